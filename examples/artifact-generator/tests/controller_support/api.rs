//! A fake Kubernetes API server behind kube's mock client (`tower-test`): it keeps the
//! objects written to it, answers as the API server would for the requests the
//! controller makes (get, list with a label selector, merge, JSON and server-side apply
//! patches, status subresources, delete, create), records every request, and fails the
//! requests a test asks it to.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use http::{Method, Request, Response, header::CONTENT_TYPE};
use kube::{Client, client::Body};
use serde_json::{Value, json};

use super::rbac;

/// One request, as the API server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
}

impl Recorded {
    /// `VERB resource[/name[/sub]]`, with `LIST` and `WATCH` for collection reads and the
    /// group, version and namespace left out; events without their generated names.
    pub fn short(&self) -> String {
        let segments: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        let rest: Vec<&str> = match segments.as_slice() {
            ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] => rest.to_vec(),
            _ => segments.clone(),
        };
        let rest = match rest.as_slice() {
            ["namespaces", _, rest @ ..] if !rest.is_empty() => rest.to_vec(),
            rest => rest.to_vec(),
        };
        let verb = match (self.method.as_str(), rest.len()) {
            ("GET", 1) if self.query.contains("watch=true") => "WATCH",
            ("GET", 1) => "LIST",
            (method, _) => method,
        };
        let target = if rest.first() == Some(&"events") {
            "events".to_owned()
        } else {
            rest.join("/")
        };
        format!("{verb} {target}")
    }
}

/// A failure to answer a request with, once.
struct Fault {
    method: Method,
    path: String,
    code: u16,
}

#[derive(Default)]
struct State {
    /// Objects by path.
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    resource_version: u64,
    uid: u64,
    /// Watches are never answered: their responders are kept here.
    watches: Vec<tower_test::mock::SendResponse<Response<Body>>>,
}

/// Every permission any fake API server of this test binary was asked for: what
/// `deploy/rbac.yaml` must grant.
pub static PERMISSIONS: Mutex<BTreeSet<(String, String, String, bool)>> = Mutex::new(BTreeSet::new());

/// The fake API server.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// A fake API server and a client for it.
    pub fn start() -> (FakeApi, Client) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = FakeApi {
            state: Arc::default(),
        };
        let state = Arc::clone(&api.state);
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let body = body.collect_bytes().await.unwrap();
                let body: Value = if body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&body).unwrap()
                };
                let recorded = Recorded {
                    method: parts.method.clone(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or_default().to_owned(),
                    content_type: parts
                        .headers
                        .get(CONTENT_TYPE)
                        .map(|v| v.to_str().unwrap().to_owned()),
                };
                let mut state = state.lock().unwrap();
                let path_and_query = parts.uri.path_and_query().unwrap().as_str();
                for p in
                    rbac::permissions_for(&recorded.method, path_and_query, recorded.content_type.as_deref())
                {
                    PERMISSIONS.lock().unwrap().insert((
                        p.group,
                        p.resource,
                        p.verb.to_owned(),
                        p.namespace.is_some(),
                    ));
                }
                state.requests.push(recorded.clone());
                if recorded.method == Method::GET && recorded.query.contains("watch=true") {
                    state.watches.push(respond);
                    continue;
                }
                let (code, answer) = state.answer(&recorded, body);
                let answer = Body::from(serde_json::to_vec(&answer).unwrap());
                respond.send_response(Response::builder().status(code).body(answer).unwrap());
            }
        });
        (api, Client::new(service, "default"))
    }

    /// Stores `object` at its path, as if created (a UID and a resourceVersion are
    /// added when missing).
    pub fn put(&self, object: Value) {
        let mut state = self.state.lock().unwrap();
        let path = object_path(&object);
        let mut object = object;
        state.stamp(&mut object);
        state.objects.insert(path, object);
    }

    /// The object at `path` (`/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>`).
    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    /// Removes the object at `path`, as someone else deleting it.
    pub fn remove(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.remove(path)
    }

    /// Changes the object at `path` in place.
    pub fn edit(&self, path: &str, edit: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        let mut object = state.objects.remove(path).expect("no such object");
        edit(&mut object);
        state.bump(&mut object);
        state.objects.insert(path.to_owned(), object);
    }

    /// The objects under a collection path.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state.items(collection, None)
    }

    /// Answers the next `method` request to exactly `path` with `code`.
    pub fn fail_next(&self, method: Method, path: &str, code: u16) {
        self.state.lock().unwrap().faults.push(Fault {
            method,
            path: path.to_owned(),
            code,
        });
    }

    /// The requests since the last call, in order.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    /// [`take_requests`](Self::take_requests) in [`Recorded::short`] form.
    pub fn take(&self) -> Vec<String> {
        self.take_requests().iter().map(Recorded::short).collect()
    }
}

/// The path of a namespaced object, from its `apiVersion`, `kind` and metadata.
pub fn object_path(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap().to_lowercase();
    let plural = match kind.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{kind}s"),
    };
    let prefix = if api_version.contains('/') { "apis" } else { "api" };
    format!(
        "/{prefix}/{api_version}/namespaces/{}/{plural}/{}",
        object["metadata"]["namespace"].as_str().unwrap(),
        object["metadata"]["name"].as_str().unwrap()
    )
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": if code < 400 { "Success" } else { "Failure" },
        "reason": reason, "message": message, "code": code,
    })
}

fn not_found(path: &str) -> (u16, Value) {
    (404, status(404, "NotFound", &format!("{path} not found")))
}

impl State {
    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// What a create adds: UID, generation, resourceVersion, creationTimestamp.
    fn stamp(&mut self, object: &mut Value) {
        let meta = &mut object["metadata"];
        if meta["uid"].is_null() {
            self.uid += 1;
            meta["uid"] = json!(format!("uid-{}", self.uid));
        }
        if meta["generation"].is_null() {
            meta["generation"] = json!(1);
        }
        if meta["creationTimestamp"].is_null() {
            meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        self.resource_version += 1;
        meta["resourceVersion"] = json!(self.resource_version.to_string());
    }

    fn bump(&mut self, object: &mut Value) {
        object["metadata"]["resourceVersion"] = json!(self.next_version());
    }

    fn items(&self, collection: &str, selector: Option<&str>) -> Vec<Value> {
        let depth = collection.matches('/').count() + 1;
        let cluster_wide = !collection.contains("/namespaces/");
        self.objects
            .iter()
            .filter(|(path, _)| {
                if cluster_wide {
                    // /apis/g/v/plural matches /apis/g/v/namespaces/<ns>/plural/<name>.
                    let (base, plural) = collection.rsplit_once('/').unwrap();
                    path.starts_with(&format!("{base}/namespaces/"))
                        && path.split('/').rev().nth(1) == Some(plural)
                } else {
                    path.starts_with(&format!("{collection}/")) && path.matches('/').count() == depth
                }
            })
            .map(|(_, object)| object.clone())
            .filter(|object| selector.is_none_or(|s| matches_selector(object, s)))
            .collect()
    }

    fn answer(&mut self, request: &Recorded, body: Value) -> (u16, Value) {
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| f.method == request.method && f.path == request.path)
        {
            let fault = self.faults.remove(i);
            let reason = match fault.code {
                409 => "Conflict",
                404 => "NotFound",
                _ => "InternalError",
            };
            return (fault.code, status(fault.code, reason, "injected by the test"));
        }
        let path = request.path.as_str();
        let (object_path, subresource) = match path.strip_suffix("/status") {
            Some(parent) if self.is_object_path(parent) => (parent.to_owned(), true),
            _ => (path.to_owned(), false),
        };
        match request.method.as_str() {
            "GET" if self.is_object_path(path) => match self.objects.get(path) {
                Some(object) => (200, object.clone()),
                None => not_found(path),
            },
            "GET" => {
                let selector = request
                    .query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("labelSelector="))
                    .map(|s| s.replace("%3D", "=").replace("%2F", "/").replace("%2C", ","));
                let items = self.items(path, selector.as_deref());
                let kind = items
                    .first()
                    .and_then(|i| i["kind"].as_str())
                    .map(|k| format!("{k}List"))
                    .unwrap_or_else(|| "List".to_owned());
                let version = self.resource_version.to_string();
                (
                    200,
                    json!({
                        "apiVersion": "v1", "kind": kind,
                        "metadata": { "resourceVersion": version }, "items": items,
                    }),
                )
            }
            "POST" => {
                let mut object = body;
                if object["metadata"]["name"].is_null() {
                    let prefix = object["metadata"]["generateName"]
                        .as_str()
                        .unwrap_or("obj-")
                        .to_owned();
                    self.uid += 1;
                    object["metadata"]["name"] = json!(format!("{prefix}{}", self.uid));
                }
                let name = object["metadata"]["name"].as_str().unwrap().to_owned();
                self.stamp(&mut object);
                self.objects.insert(format!("{path}/{name}"), object.clone());
                (201, object)
            }
            "DELETE" => match self.objects.remove(path) {
                Some(_) => (200, status(200, "", "deleted")),
                None => not_found(path),
            },
            "PATCH" => self.patch(&object_path, subresource, request.content_type.as_deref(), body),
            other => panic!("unexpected method {other} {path}"),
        }
    }

    /// Whether `path` names one namespaced object: `.../namespaces/<ns>/<plural>/<name>`.
    fn is_object_path(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        segments.len() >= 4 && segments[segments.len() - 4] == "namespaces"
    }

    fn patch(
        &mut self,
        path: &str,
        subresource: bool,
        content_type: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let apply = content_type == Some("application/apply-patch+yaml");
        let existing = self.objects.get(path).cloned();
        let mut object = match (existing, apply && !subresource) {
            (Some(object), _) => object,
            (None, true) => {
                let mut object = json!({
                    "apiVersion": body["apiVersion"], "kind": body["kind"],
                    "metadata": { "name": body["metadata"]["name"], "namespace": body["metadata"]["namespace"] },
                });
                self.stamp(&mut object);
                object
            }
            (None, false) => return not_found(path),
        };
        let expected = match content_type {
            Some("application/json-patch+json") => None,
            _ => body["metadata"]["resourceVersion"].as_str().map(str::to_owned),
        };
        if let Some(expected) = expected
            && object["metadata"]["resourceVersion"].as_str() != Some(expected.as_str())
        {
            return (409, status(409, "Conflict", "the object has been modified"));
        }
        let spec_before = object["spec"].clone();
        match content_type {
            Some("application/json-patch+json") => {
                if let Err(message) = json_patch(&mut object, &body) {
                    return (422, status(422, "Invalid", &message));
                }
            }
            _ if subresource => merge(&mut object["status"], &body["status"]),
            _ => {
                let mut body = body;
                if let Some(meta) = body["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                }
                if let Some(object) = body.as_object_mut() {
                    object.remove("status");
                }
                merge(&mut object, &body);
            }
        }
        if object["spec"] != spec_before {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            object["metadata"]["generation"] = json!(generation);
        }
        self.bump(&mut object);
        self.objects.insert(path.to_owned(), object.clone());
        (200, object)
    }
}

/// Whether `object`'s labels match `selector` (`k=v[,k=v]`).
fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|requirement| {
        let (key, value) = requirement.split_once('=').unwrap();
        object["metadata"]["labels"][key].as_str() == Some(value)
    })
}

/// A JSON merge patch (RFC 7386).
pub fn merge(target: &mut Value, patch: &Value) {
    if patch.is_object() && !target.is_object() {
        *target = json!({});
    }
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The JSON patch (RFC 6902) operations kube-runtime's finalizer sends: `test`, `add`,
/// `remove`, `replace`.
fn json_patch(object: &mut Value, operations: &Value) -> Result<(), String> {
    for operation in operations.as_array().ok_or("not a JSON patch")? {
        let pointer = operation["path"].as_str().ok_or("no path")?;
        let (parent, last) = pointer.rsplit_once('/').ok_or("bad path")?;
        match operation["op"].as_str() {
            Some("test") => {
                let found = object.pointer(pointer).cloned().unwrap_or(Value::Null);
                if found != operation["value"] {
                    return Err(format!("test of {pointer} failed"));
                }
            }
            Some("add") | Some("replace") => {
                let value = operation["value"].clone();
                let parent = object.pointer_mut(parent).ok_or("no parent")?;
                match parent {
                    Value::Array(items) if last == "-" => items.push(value),
                    Value::Array(items) => {
                        items.insert(last.parse::<usize>().map_err(|e| e.to_string())?, value)
                    }
                    Value::Object(map) => {
                        map.insert(last.to_owned(), value);
                    }
                    _ => return Err(format!("cannot add at {pointer}")),
                }
            }
            Some("remove") => {
                let parent = object.pointer_mut(parent).ok_or("no parent")?;
                match parent {
                    Value::Array(items) => {
                        items.remove(last.parse::<usize>().map_err(|e| e.to_string())?);
                    }
                    Value::Object(map) => {
                        map.remove(last);
                    }
                    _ => return Err(format!("cannot remove {pointer}")),
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}
