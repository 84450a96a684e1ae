//! `examples/artifact-generator/deploy/`: every manifest parses into its Kubernetes type,
//! the Deployment meets the restricted Pod Security Standard rule by rule, and the
//! Deployment, Service and NetworkPolicy agree with each other and with the flags.
//! (rbac.yaml's permissions are checked against the controller's requests in
//! tests/controller.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::{
    collections::BTreeMap,
    fs,
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        core::v1::{Container, PodSpec, Service, ServiceAccount},
        networking::v1::NetworkPolicy,
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::util::intstr::IntOrString,
};
use serde::de::DeserializeOwned;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The documents of a manifest file, as JSON values.
fn documents(file: &str) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(deploy_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|value: &serde_json::Value| !value.is_null())
        .collect()
}

fn typed<T: DeserializeOwned>(value: &serde_json::Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

fn kustomization() -> serde_json::Value {
    let mut documents = documents("kustomization.yaml");
    assert_eq!(documents.len(), 1);
    documents.remove(0)
}

fn resources() -> Vec<String> {
    kustomization()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn deployment() -> Deployment {
    let documents = documents("deployment.yaml");
    assert_eq!(documents.len(), 1);
    typed(&documents[0])
}

fn pod() -> PodSpec {
    deployment().spec.unwrap().template.spec.unwrap()
}

fn container() -> Container {
    let containers = pod().containers;
    assert_eq!(containers.len(), 1, "one container");
    containers.into_iter().next().unwrap()
}

fn service() -> Service {
    let documents = documents("service.yaml");
    assert_eq!(documents.len(), 1);
    typed(&documents[0])
}

fn network_policy() -> NetworkPolicy {
    let documents = documents("networkpolicy.yaml");
    assert_eq!(documents.len(), 1);
    typed(&documents[0])
}

/// The container's arguments after `run`.
fn run_args() -> Vec<String> {
    let args = container().args.unwrap();
    assert_eq!(args[0], "run", "the container runs the controller: {args:?}");
    args[1..].to_vec()
}

/// The value of `--flag=value` in the container's arguments, else the flag's default.
fn flag(name: &str, default: &str) -> String {
    let prefix = format!("--{name}=");
    run_args()
        .iter()
        .find_map(|arg| arg.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

/// The port of a Go-style `host:port` address.
fn port_of(address: &str) -> i32 {
    address.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The container port named `name`.
fn container_port(name: &str) -> i32 {
    container()
        .ports
        .unwrap()
        .into_iter()
        .find(|port| port.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no container port named {name}"))
        .container_port
}

fn pod_labels() -> BTreeMap<String, String> {
    deployment()
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .labels
        .unwrap()
}

#[test]
fn the_kustomization_lists_every_manifest_of_the_directory() {
    let mut listed = resources();
    listed.sort();
    let mut files: Vec<String> = fs::read_dir(deploy_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    files.sort();
    assert_eq!(listed, files);
    for required in [
        "crd.yaml",
        "rbac.yaml",
        "deployment.yaml",
        "service.yaml",
        "networkpolicy.yaml",
    ] {
        assert!(listed.iter().any(|r| r == required), "{required}");
    }
}

#[test]
fn the_kustomization_sets_the_namespace_of_rbac_yaml() {
    // rbac.yaml names flux-system for the ServiceAccount and the binding subjects; the
    // kustomization must put everything else there too.
    assert_eq!(kustomization()["namespace"], "flux-system");
}

#[test]
fn every_manifest_parses_into_its_kubernetes_type() {
    let mut kinds = Vec::new();
    for file in resources() {
        for document in documents(&file) {
            let kind = document["kind"].as_str().unwrap().to_owned();
            match kind.as_str() {
                "CustomResourceDefinition" => drop(typed::<CustomResourceDefinition>(&document)),
                "ServiceAccount" => drop(typed::<ServiceAccount>(&document)),
                "ClusterRole" => drop(typed::<ClusterRole>(&document)),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(&document)),
                "Role" => drop(typed::<Role>(&document)),
                "RoleBinding" => drop(typed::<RoleBinding>(&document)),
                "Deployment" => drop(typed::<Deployment>(&document)),
                "Service" => drop(typed::<Service>(&document)),
                "NetworkPolicy" => drop(typed::<NetworkPolicy>(&document)),
                other => panic!("{file}: unexpected kind {other}"),
            }
            kinds.push(kind);
        }
    }
    for kind in [
        "CustomResourceDefinition",
        "ServiceAccount",
        "Deployment",
        "Service",
        "NetworkPolicy",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
}

#[test]
fn the_deployment_is_namespace_agnostic() {
    for file in ["deployment.yaml", "service.yaml", "networkpolicy.yaml"] {
        for document in documents(file) {
            assert!(
                document["metadata"]["namespace"].is_null(),
                "{file} names a namespace"
            );
        }
    }
}

#[test]
fn the_deployment_runs_as_the_service_account_of_rbac_yaml() {
    let accounts: Vec<ServiceAccount> = documents("rbac.yaml")
        .iter()
        .filter(|d| d["kind"] == "ServiceAccount")
        .map(typed)
        .collect();
    assert_eq!(accounts.len(), 1);
    assert_eq!(pod().service_account_name, accounts[0].metadata.name);
}

// The restricted Pod Security Standard
// (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted),
// one rule per test, on the pod as the API server's admission would read it: a
// container setting wins over the pod's.

#[test]
fn restricted_pss_runs_as_non_root() {
    let pod_context = pod().security_context.unwrap_or_default();
    let container_context = container().security_context.unwrap_or_default();
    let non_root = container_context.run_as_non_root.or(pod_context.run_as_non_root);
    assert_eq!(non_root, Some(true));
}

#[test]
fn restricted_pss_runs_as_a_numeric_user_that_is_not_root() {
    let pod_context = pod().security_context.unwrap_or_default();
    let container_context = container().security_context.unwrap_or_default();
    let user = container_context.run_as_user.or(pod_context.run_as_user);
    assert!(user.is_some_and(|uid| uid > 0), "runAsUser {user:?}");
}

#[test]
fn restricted_pss_forbids_privilege_escalation() {
    let context = container().security_context.unwrap_or_default();
    assert_eq!(context.allow_privilege_escalation, Some(false));
}

#[test]
fn restricted_pss_drops_all_capabilities() {
    let capabilities = container()
        .security_context
        .unwrap_or_default()
        .capabilities
        .unwrap_or_default();
    assert_eq!(capabilities.drop, Some(vec!["ALL".to_owned()]));
    // The only one restricted allows adding back is NET_BIND_SERVICE; none is needed.
    assert!(capabilities.add.unwrap_or_default().is_empty());
}

#[test]
fn restricted_pss_sets_the_runtime_default_seccomp_profile() {
    let pod_profile = pod().security_context.unwrap_or_default().seccomp_profile;
    let container_profile = container().security_context.unwrap_or_default().seccomp_profile;
    let profile = container_profile.or(pod_profile).unwrap();
    assert_eq!(profile.type_, "RuntimeDefault");
}

#[test]
fn restricted_pss_uses_no_host_namespaces_ports_or_privileged_mode() {
    let pod = pod();
    assert_ne!(pod.host_network, Some(true));
    assert_ne!(pod.host_pid, Some(true));
    assert_ne!(pod.host_ipc, Some(true));
    let container = container();
    assert_ne!(
        container.security_context.unwrap_or_default().privileged,
        Some(true)
    );
    for port in container.ports.unwrap() {
        assert_eq!(port.host_port, None, "{:?}", port.name);
    }
}

#[test]
fn restricted_pss_uses_only_allowed_volume_types() {
    for volume in pod().volumes.unwrap() {
        let json = serde_json::to_value(&volume).unwrap();
        let types: Vec<&String> = json
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "name")
            .collect();
        let allowed = [
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "persistentVolumeClaim",
            "projected",
            "secret",
        ];
        assert!(
            types.iter().all(|t| allowed.contains(&t.as_str())),
            "volume {} of type {types:?}",
            volume.name
        );
    }
}

#[test]
fn the_root_filesystem_is_read_only() {
    let context = container().security_context.unwrap_or_default();
    assert_eq!(context.read_only_root_filesystem, Some(true));
}

#[test]
fn the_storage_path_and_tmp_are_empty_dirs() {
    let volumes: BTreeMap<String, bool> = pod()
        .volumes
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.empty_dir.is_some()))
        .collect();
    let mounts: BTreeMap<String, String> = container()
        .volume_mounts
        .unwrap()
        .into_iter()
        .map(|m| (m.mount_path, m.name))
        .collect();
    for path in [flag("storage-path", "/data"), "/tmp".to_owned()] {
        let volume = mounts
            .get(&path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        assert_eq!(volumes.get(volume), Some(&true), "{path} is not an emptyDir");
    }
}

#[test]
fn the_container_has_resource_requests_and_limits() {
    let resources = container().resources.unwrap();
    for key in ["cpu", "memory"] {
        assert!(
            resources.requests.as_ref().unwrap().contains_key(key),
            "request {key}"
        );
        assert!(
            resources.limits.as_ref().unwrap().contains_key(key),
            "limit {key}"
        );
    }
}

#[test]
fn the_probes_use_the_health_endpoint() {
    let container = container();
    let health_port = IntOrString::String("healthz".into());
    assert_eq!(container_port("healthz"), port_of(&flag("health-addr", ":9440")));
    let liveness = container.liveness_probe.unwrap().http_get.unwrap();
    assert_eq!(
        (liveness.path.as_deref(), &liveness.port),
        (Some("/healthz"), &health_port)
    );
    // /readyz passes on the leader only: the Service then routes downloads to it alone.
    let readiness = container.readiness_probe.unwrap().http_get.unwrap();
    assert_eq!(
        (readiness.path.as_deref(), &readiness.port),
        (Some("/readyz"), &health_port)
    );
}

#[test]
fn the_runtime_namespace_comes_from_the_downward_api() {
    let env = container().env.unwrap();
    let runtime_namespace = env.iter().find(|e| e.name == "RUNTIME_NAMESPACE").unwrap();
    let field = runtime_namespace
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field.field_path, "metadata.namespace");
}

#[test]
fn the_advertised_address_is_the_services_in_cluster_name() {
    let name = service().metadata.name.unwrap();
    assert_eq!(
        flag("storage-adv-addr", ""),
        format!("{name}.$(RUNTIME_NAMESPACE).svc.cluster.local.")
    );
    // Without a port, the URLs use port 80: the Service's.
    assert_eq!(service().spec.unwrap().ports.unwrap()[0].port, 80);
}

#[test]
fn leader_election_is_enabled() {
    assert!(run_args().iter().any(|arg| arg == "--enable-leader-election"));
}

#[test]
fn the_service_maps_port_80_to_the_artifact_port() {
    let spec = service().spec.unwrap();
    let ports = spec.ports.unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port, 80);
    assert_eq!(ports[0].target_port, Some(IntOrString::String("http".into())));
    assert_eq!(container_port("http"), port_of(&flag("storage-addr", ":9090")));
    let labels = pod_labels();
    for (key, value) in spec.selector.unwrap() {
        assert_eq!(labels.get(&key), Some(&value), "the selector misses the pods");
    }
}

#[test]
fn the_metrics_port_is_the_metrics_address() {
    assert_eq!(
        container_port("http-prom"),
        port_of(&flag("metrics-addr", ":8080"))
    );
}

#[test]
fn the_network_policy_admits_only_flux_consumers_and_the_controller_to_the_artifact_port() {
    let spec = network_policy().spec.unwrap();
    let selected = spec.pod_selector.unwrap().match_labels.unwrap();
    let labels = pod_labels();
    for (key, value) in &selected {
        assert_eq!(labels.get(key), Some(value), "the policy misses the pods");
    }
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
    let rules = spec.ingress.unwrap();
    let artifact_port = IntOrString::String("http".into());
    let artifact_rules: Vec<_> = rules
        .iter()
        .filter(|rule| {
            rule.ports
                .as_ref()
                .is_none_or(|ports| ports.iter().any(|p| p.port.as_ref() == Some(&artifact_port)))
        })
        .collect();
    assert_eq!(artifact_rules.len(), 1, "one rule for the artifact port");
    let rule = artifact_rules[0];
    let ports = rule.ports.as_ref().unwrap();
    assert_eq!(ports.len(), 1, "the artifact rule opens the artifact port only");
    let mut apps: Vec<String> = rule
        .from
        .as_ref()
        .unwrap()
        .iter()
        .map(|peer| {
            assert!(
                peer.namespace_selector.is_none() && peer.ip_block.is_none(),
                "{peer:?}"
            );
            let labels = peer.pod_selector.as_ref().unwrap().match_labels.clone().unwrap();
            assert_eq!(labels.len(), 1, "{labels:?}");
            labels["app"].clone()
        })
        .collect();
    apps.sort();
    assert_eq!(
        apps,
        ["artifact-generator", "helm-controller", "kustomize-controller"]
    );
    assert_eq!(container_port("http"), port_of(&flag("storage-addr", ":9090")));
}

#[test]
fn the_network_policy_opens_no_other_port_to_everyone_but_metrics() {
    let rules = network_policy().spec.unwrap().ingress.unwrap();
    for rule in rules {
        let ports = rule.ports.expect("every rule names its ports");
        for port in ports {
            let port = port.port.unwrap();
            assert!(
                port == IntOrString::String("http".into()) || port == IntOrString::String("http-prom".into()),
                "{port:?}"
            );
        }
    }
}

/// The Deployment's arguments, as the kubelet expands them, are accepted by the binary:
/// it gets as far as the API server (none here) and advertises the Service's name.
#[test]
fn the_deployment_arguments_are_accepted_by_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let kubeconfig = dir.path().join("kubeconfig");
    fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: t, cluster: {{server: \"https://127.0.0.1:{port}\"}}}}]\n\
             users: [{{name: t, user: {{token: t}}}}]\n\
             contexts: [{{name: t, context: {{cluster: t, user: t}}}}]\ncurrent-context: t\n"
        ),
    )
    .unwrap();
    let storage = dir.path().join("data");
    fs::create_dir(&storage).unwrap();
    // The storage path is the pod's emptyDir; here, a temporary directory. The process
    // stops at the API server check, before it binds any port.
    let args: Vec<String> = container()
        .args
        .unwrap()
        .into_iter()
        .map(|arg| match arg.strip_prefix("--storage-path=") {
            Some(_) => format!("--storage-path={}", storage.display()),
            None => arg.replace("$(RUNTIME_NAMESPACE)", "flux-system"),
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_artifact-generator"))
        .args(&args)
        .env("KUBECONFIG", &kubeconfig)
        .env("RUNTIME_NAMESPACE", "flux-system")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("still running: {}", reader.join().unwrap());
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Kubernetes API server"),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#""url":"http://artifact-generator.flux-system.svc.cluster.local./""#),
        "{stderr}"
    );
    assert!(!stderr.contains("\"warn\""), "{stderr}");
}
