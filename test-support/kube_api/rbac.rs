//! The sample RBAC of `docs/kubernetes/rbac.yaml` (and its opt-in addenda), and the
//! permission each API request needs, by the API server's rules.
//!
//! The scripted API server of the mock tests ([`super::scripted_client`]) checks every
//! request it receives with [`Rbac::assert_granted`]: the requests a helper really sends
//! are what the RBAC must grant, so a test that scripts a new request covers it without
//! listing anything.

use std::sync::OnceLock;

use http::Method;
use serde::Deserialize;
use serde_json::Value;

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
}

impl Rule {
    fn from_yaml(rule: &Value) -> Self {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .map(|list| list.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        Rule {
            api_groups: strings("apiGroups"),
            resources: strings("resources"),
            verbs: strings("verbs"),
            resource_names: strings("resourceNames"),
        }
    }

    fn allows(&self, permission: &Permission) -> bool {
        let has = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        has(&self.api_groups, &permission.group)
            && has(&self.resources, &permission.resource)
            && has(&self.verbs, permission.verb)
            && (self.resource_names.is_empty()
                || permission
                    .name
                    .as_ref()
                    .is_some_and(|name| self.resource_names.contains(name)))
    }
}

/// A role bound to the controller's service account: cluster-wide (a ClusterRole bound
/// by a ClusterRoleBinding) or in one namespace (a Role bound by a RoleBinding).
#[derive(Debug)]
pub struct BoundRole {
    pub kind: String,
    pub name: String,
    /// `None` for a cluster-wide grant.
    pub namespace: Option<String>,
    pub rules: Vec<Rule>,
}

/// The roles of the sample RBAC bound to its service account.
#[derive(Debug)]
pub struct Rbac {
    /// The files it was read from, for messages.
    pub files: String,
    pub service_account: (String, String),
    pub roles: Vec<BoundRole>,
}

impl Rbac {
    /// Whether some bound role allows `permission`.
    pub fn grants(&self, permission: &Permission) -> bool {
        self.roles.iter().any(|role| {
            let in_scope = match (&role.namespace, &permission.namespace) {
                (None, _) => true,
                (Some(role_ns), Some(ns)) => role_ns == ns,
                (Some(_), None) => false,
            };
            in_scope && role.rules.iter().any(|rule| rule.allows(permission))
        })
    }
}

/// The sample RBAC, `docs/kubernetes/rbac.yaml`, read once.
pub fn sample() -> &'static Rbac {
    static RBAC: OnceLock<Rbac> = OnceLock::new();
    RBAC.get_or_init(|| load(&["rbac.yaml"]))
}

/// The sample RBAC with `docs/kubernetes/rbac-delete-external-artifacts.yaml`, the
/// addendum for `ArtifactFinalizer::delete_external_artifacts(true)`, read once.
pub fn sample_with_delete_addendum() -> &'static Rbac {
    static RBAC: OnceLock<Rbac> = OnceLock::new();
    RBAC.get_or_init(|| load(&["rbac.yaml", "rbac-delete-external-artifacts.yaml"]))
}

/// The RBAC of these files of `docs/kubernetes/` together.
pub fn load(files: &[&str]) -> Rbac {
    let documents: Vec<Value> = files
        .iter()
        .flat_map(|file| {
            let path = format!("{}/../../docs/kubernetes/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            serde_yaml_ng::Deserializer::from_str(&text)
                .map(|d| Value::deserialize(d).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut rbac = parse(&documents);
    rbac.files = files
        .iter()
        .map(|file| format!("docs/kubernetes/{file}"))
        .collect::<Vec<_>>()
        .join(" + ");
    rbac
}

/// The bound roles of a set of RBAC documents. Every Role and ClusterRole must be bound
/// to the one ServiceAccount, and every binding must name a role of the set.
pub fn parse(documents: &[Value]) -> Rbac {
    let accounts: Vec<&Value> = documents
        .iter()
        .filter(|d| d["kind"] == "ServiceAccount")
        .collect();
    assert_eq!(accounts.len(), 1, "one ServiceAccount");
    let account = (
        accounts[0]["metadata"]["namespace"].as_str().unwrap().to_owned(),
        accounts[0]["metadata"]["name"].as_str().unwrap().to_owned(),
    );
    let mut roles = Vec::new();
    for binding in documents
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
    {
        let binds_account = binding["subjects"].as_array().unwrap().iter().any(|s| {
            s["kind"] == "ServiceAccount"
                && s["namespace"] == account.0.as_str()
                && s["name"] == account.1.as_str()
        });
        assert!(
            binds_account,
            "{} does not bind the service account",
            binding["metadata"]["name"]
        );
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap();
        let role_name = binding["roleRef"]["name"].as_str().unwrap();
        let binding_ns = binding["metadata"]["namespace"].as_str();
        let role = documents
            .iter()
            .find(|d| {
                d["kind"] == role_kind
                    && d["metadata"]["name"] == role_name
                    && (role_kind == "ClusterRole" || d["metadata"]["namespace"].as_str() == binding_ns)
            })
            .unwrap_or_else(|| panic!("{role_kind} {role_name} bound but not defined"));
        let namespace = match binding["kind"].as_str() {
            Some("RoleBinding") => Some(binding_ns.unwrap().to_owned()),
            _ => None,
        };
        roles.push(BoundRole {
            kind: role_kind.to_owned(),
            name: role_name.to_owned(),
            namespace,
            rules: role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(Rule::from_yaml)
                .collect(),
        });
    }
    for role in documents
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        let name = role["metadata"]["name"].as_str().unwrap();
        assert!(
            roles.iter().any(|r| r.name == name && r.kind == role["kind"]),
            "{} {name} is not bound to the service account",
            role["kind"]
        );
    }
    Rbac {
        files: "the documents given".to_owned(),
        service_account: account,
        roles,
    }
}

/// What a request asks the authorizer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    /// The API group, `""` for the core group.
    pub group: String,
    /// The resource, with `/subresource` if any.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// The permissions a request needs: one, except for a server-side apply of an object
/// (not of a subresource), which creates the object when it does not exist yet and so
/// needs `create` besides `patch`.
pub fn permissions_for(method: &Method, path_and_query: &str, content_type: Option<&str>) -> Vec<Permission> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not an API path: {path}"),
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some((*namespace).to_owned()), rest),
        rest => (None, rest),
    };
    let (resource, name, sub_resource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some((*name).to_owned()), None),
        [resource, name, sub] => (*resource, Some((*name).to_owned()), Some(*sub)),
        _ => panic!("unexpected API path: {path}"),
    };
    let watch = query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => panic!("unexpected method {other}"),
    };
    let permission = Permission {
        verb,
        group: group.to_owned(),
        resource: match sub_resource {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_owned(),
        },
        namespace,
        name,
    };
    let apply = content_type == Some("application/apply-patch+yaml");
    if apply && sub_resource.is_none() {
        let create = Permission {
            verb: "create",
            ..permission.clone()
        };
        vec![permission, create]
    } else {
        vec![permission]
    }
}

impl Rbac {
    /// Fails unless this RBAC grants everything the request needs.
    pub fn assert_granted(&self, method: &Method, path_and_query: &str, content_type: Option<&str>) {
        for permission in permissions_for(method, path_and_query, content_type) {
            assert!(
                self.grants(&permission),
                "{} does not grant {method} {path_and_query}: {} on {}{} in {}",
                self.files,
                permission.verb,
                if permission.group.is_empty() {
                    String::new()
                } else {
                    format!("{}/", permission.group)
                },
                permission.resource,
                permission.namespace.as_deref().unwrap_or("the cluster scope")
            );
        }
    }
}
