//! Evidence from the Docker Engine API: info, version, containers, images, networks and
//! swarm objects, as the daemon's own JSON documents.

use super::super::{Answer, EvidenceError, Outcome, Query};
use crate::abi::ev;
use crate::docker::Client;
use bollard::query_parameters as params;

/// Run one Docker API call and turn its result into a JSON document.
async fn doc<T, F>(what: &str, call: F) -> Outcome
where
    T: serde::Serialize,
    F: std::future::Future<Output = Result<T, bollard::errors::Error>>,
{
    let v = Client::call(what, call).await?;
    super::super::Doc::of(&v)
        .map(Answer::Document)
        .map_err(|e| EvidenceError::Unavailable(format!("{what}: {e}")))
}

/// Answer a Docker question (the others are not this collector's to answer).
pub(super) async fn collect(client: &Client, q: &Query) -> Outcome {
    let d = client.docker().await?;
    match q {
        Query::DockerInfo => doc("docker info", d.info()).await,
        Query::DockerVersion => doc("docker version", d.version()).await,
        Query::ContainerList => container_list(d).await,
        Query::ContainerInspect { id } => {
            doc(&format!("container {id}"), d.inspect_container(id, None)).await
        }
        Query::ImageList => {
            // Like `docker images`: tagged and dangling images, not intermediate layers.
            let opts = params::ListImagesOptionsBuilder::default().build();
            doc("image list", d.list_images(Some(opts))).await
        }
        Query::ImageInspect { name } => doc(&format!("image {name}"), d.inspect_image(name)).await,
        Query::ImageHistory { name } => {
            doc(&format!("image history {name}"), d.image_history(name)).await
        }
        Query::NetworkList => {
            doc(
                "network list",
                d.list_networks(None::<params::ListNetworksOptions>),
            )
            .await
        }
        Query::SwarmInspect => doc("swarm", d.inspect_swarm()).await,
        Query::SwarmList { kind } => swarm_list(d, kind).await,
        other => Err(EvidenceError::Unavailable(format!(
            "{} is not a Docker Engine question",
            other.kind()
        ))),
    }
}

async fn swarm_list(d: &bollard::Docker, kind: &str) -> Outcome {
    match kind {
        "nodes" => {
            doc(
                "swarm nodes",
                d.list_nodes(None::<params::ListNodesOptions>),
            )
            .await
        }
        "services" => {
            doc(
                "swarm services",
                d.list_services(None::<params::ListServicesOptions>),
            )
            .await
        }
        "secrets" => {
            doc(
                "swarm secrets",
                d.list_secrets(None::<params::ListSecretsOptions>),
            )
            .await
        }
        other => Err(EvidenceError::NotFound(format!(
            "no swarm object kind {other:?}"
        ))),
    }
}

async fn container_list(d: &bollard::Docker) -> Outcome {
    let opts = params::ListContainersOptionsBuilder::default()
        .all(true)
        .build();
    let list = Client::call("container list", d.list_containers(Some(opts))).await?;
    let mut out: Vec<ev::ContainerSummary> = list
        .into_iter()
        .map(|c| ev::ContainerSummary {
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.into_iter().next())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            image: c.image.unwrap_or_default(),
            state: c
                .state
                .map(|s| s.to_string())
                .unwrap_or_default()
                .to_lowercase(),
            labels: c
                .labels
                .map(|l| l.into_iter().collect::<std::collections::BTreeMap<_, _>>())
                .unwrap_or_default()
                .into_iter()
                .collect(),
        })
        .collect();
    // The daemon lists newest first; a stable order by name makes reports diffable.
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(Answer::Containers(out))
}
