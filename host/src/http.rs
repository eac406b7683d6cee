//! The HTTP side of `serve` and `watch --metrics`: axum routes served by hyper, one
//! connection per task, with a bound on how long a client may take to send its request
//! head, on each request's time and on open connections, and a graceful stop. Callers bind
//! to loopback unless the operator names another address.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A client must send its whole request head within this (slow-loris bound).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request is answered within this, or with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection is closed after this long, whatever it is doing: a client that reads a
/// response slowly, or not at all, does not keep its slot (and the response) for ever.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// In-flight requests get this long to finish once the server is told to stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Listen on `addr`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Serve `app` on `listener` until `shutdown` resolves, then let in-flight requests finish
/// (for at most [`DRAIN_TIMEOUT`]).
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let app = app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        REQUEST_TIMEOUT,
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: say so, and do not spin on it.
                tracing::warn!("http: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("http: {MAX_CONNECTIONS} connections open; one refused");
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Err(e)) => tracing::debug!("http: connection ended: {e}"),
                Err(_) => tracing::debug!("http: connection closed after {CONNECTION_TIMEOUT:?}"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("http: requests still in flight after {DRAIN_TIMEOUT:?}; closed");
    }
}
