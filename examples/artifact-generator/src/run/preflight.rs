//! What `run` checks before it takes part in the election: that the API server answers
//! and serves the kinds the controller watches. Without it, an unreachable cluster or a
//! missing CRD would show only as warnings retried forever (the leader gate and kube's
//! watchers both retry), and the pod would look alive.

use std::time::Duration;

use kube::Client;

/// The kinds the controller watches, by API group version.
const REQUIRED: [(&str, &[&str]); 2] = [
    ("source.extensions.fluxcd.io/v1beta1", &["ArtifactGenerator"]),
    (
        "source.toolkit.fluxcd.io/v1",
        &[
            "ExternalArtifact",
            "GitRepository",
            "OCIRepository",
            "Bucket",
            "HelmChart",
        ],
    ),
];

/// How long the checks may take in all: a connection that hangs (a firewall dropping
/// packets) fails here instead of after kube's 30-second connect timeout per attempt.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the controller cannot start on this cluster.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PreflightError {
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API server at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: kube::Error,
    },
    /// The API server did not answer in time.
    #[error("the Kubernetes API server at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// Discovery failed for a reason other than a missing group.
    #[error("cannot list the kinds of {api_version} on the API server")]
    Discovery {
        api_version: &'static str,
        #[source]
        source: kube::Error,
    },
    /// Kinds the controller needs are not served.
    #[error(
        "the cluster does not serve {}: install Flux 2.7 or later (its source-controller CRDs) and examples/artifact-generator/deploy/crd.yaml",
        missing.join(", ")
    )]
    MissingKinds { missing: Vec<String> },
}

/// Checks that the API server at `url` answers and serves every kind the controller
/// watches, within [`TIMEOUT`]. Returns the server's version (`v1.33.1`).
pub(crate) async fn check(client: &Client, url: &str) -> Result<String, PreflightError> {
    match tokio::time::timeout(TIMEOUT, check_kinds(client, url)).await {
        Ok(result) => result,
        Err(_) => Err(PreflightError::Timeout {
            url: url.to_owned(),
            timeout: TIMEOUT,
        }),
    }
}

async fn check_kinds(client: &Client, url: &str) -> Result<String, PreflightError> {
    let version = client
        .apiserver_version()
        .await
        .map_err(|source| PreflightError::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    let mut missing = Vec::new();
    for (api_version, kinds) in REQUIRED {
        let served: Vec<String> = match client.list_api_group_resources(api_version).await {
            Ok(list) => list.resources.into_iter().map(|r| r.kind).collect(),
            Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
            Err(source) => return Err(PreflightError::Discovery { api_version, source }),
        };
        missing.extend(
            kinds
                .iter()
                .filter(|kind| !served.iter().any(|s| s == *kind))
                .map(|kind| format!("{kind} ({api_version})")),
        );
    }
    if missing.is_empty() {
        Ok(version.git_version)
    } else {
        Err(PreflightError::MissingKinds { missing })
    }
}

#[cfg(test)]
mod tests {
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    use super::*;

    /// An API server serving `/version` and discovery for the given group versions.
    fn api_server(served: &'static [(&'static str, &'static [&'static str])]) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let path = request.uri().path().to_owned();
                let found = served.iter().find(|(gv, _)| path == format!("/apis/{gv}"));
                let (status, body) = if path == "/version" {
                    (
                        200,
                        json!({
                            "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "", "gitTreeState": "",
                            "buildDate": "", "goVersion": "", "compiler": "", "platform": "linux/amd64",
                        }),
                    )
                } else if let Some((gv, kinds)) = found {
                    let resources: Vec<_> = kinds
                        .iter()
                        .map(|kind| {
                            json!({
                                "name": kind.to_lowercase(), "singularName": "", "namespaced": true,
                                "kind": kind, "verbs": ["get"],
                            })
                        })
                        .collect();
                    (
                        200,
                        json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources}),
                    )
                } else {
                    (
                        404,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                    )
                };
                let body = Body::from(serde_json::to_vec(&body).unwrap());
                respond.send_response(Response::builder().status(status).body(body).unwrap());
            }
        });
        Client::new(service, "default")
    }

    #[tokio::test]
    async fn a_cluster_with_flux_and_the_crd_passes() {
        let client = api_server(&[
            ("source.extensions.fluxcd.io/v1beta1", &["ArtifactGenerator"]),
            (
                "source.toolkit.fluxcd.io/v1",
                &[
                    "ExternalArtifact",
                    "GitRepository",
                    "OCIRepository",
                    "Bucket",
                    "HelmChart",
                ],
            ),
        ]);
        assert_eq!(check(&client, "https://api").await.unwrap(), "v1.33.1");
    }

    #[tokio::test]
    async fn a_cluster_without_the_crd_is_refused_naming_it() {
        let client = api_server(&[(
            "source.toolkit.fluxcd.io/v1",
            &[
                "ExternalArtifact",
                "GitRepository",
                "OCIRepository",
                "Bucket",
                "HelmChart",
            ],
        )]);
        let error = check(&client, "https://api").await.unwrap_err();
        assert!(
            error.to_string().starts_with(
                "the cluster does not serve ArtifactGenerator (source.extensions.fluxcd.io/v1beta1): install"
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_flux_without_external_artifacts_is_refused() {
        // Flux before 2.7 has no ExternalArtifact kind.
        let client = api_server(&[
            ("source.extensions.fluxcd.io/v1beta1", &["ArtifactGenerator"]),
            (
                "source.toolkit.fluxcd.io/v1",
                &["GitRepository", "OCIRepository", "Bucket", "HelmChart"],
            ),
        ]);
        match check(&client, "https://api").await.unwrap_err() {
            PreflightError::MissingKinds { missing } => {
                assert_eq!(missing, ["ExternalArtifact (source.toolkit.fluxcd.io/v1)"]);
            }
            other => panic!("{other}"),
        }
    }
}
