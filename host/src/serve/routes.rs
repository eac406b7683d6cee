//! The routes of `serve`: `/metrics` (OpenMetrics), the latest good report as
//! `/report.json`, `/report.html` and `/report.sarif`, and `/healthz`. Before the first
//! audit has succeeded the reports and `/healthz` answer 503. Each rendering is made once
//! per report ([`super::Published`]).

use super::Shared;
use crate::report::Format;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/report.json", get(|s| rendered(s, Format::Json)))
        .route("/report.html", get(|s| rendered(s, Format::Html)))
        .route("/report.sarif", get(|s| rendered(s, Format::Sarif)))
        .with_state(shared)
}

async fn index() -> &'static str {
    "bulwark serve: /metrics /report.json /report.html /report.sarif /healthz\n"
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    crate::metrics::exposition(s.exposition())
}

/// 200 once an audit has succeeded (the latest may have failed: the metrics say so).
async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    match s.latest() {
        Some(_) => (StatusCode::OK, "ok\n").into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no audit has completed yet\n",
        )
            .into_response(),
    }
}

async fn rendered(State(s): State<Arc<Shared>>, format: Format) -> Response {
    let Some(latest) = s.latest() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no audit has completed yet\n",
        )
            .into_response();
    };
    // Made once per report, off the async threads.
    let body = tokio::task::spawn_blocking(move || latest.rendered(format)).await;
    let content_type = match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Sarif => "application/sarif+json",
        _ => "application/json",
    };
    match body {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the report could not be encoded\n",
        )
            .into_response(),
    }
}
