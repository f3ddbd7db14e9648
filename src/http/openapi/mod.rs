//! `GET /openapi.json`: the OpenAPI 3.1 document of the core's HTTP API, generated from the
//! route table (`access::table()` and `access::root_table()`), so every route the router
//! serves is documented with its method and access level, and a route cannot be added without
//! its documentation (the unit test below fails). Request and answer schemas come from
//! [`operations`] and [`schemas`]; every operation also documents the error shapes of
//! `errors.rs`. The document is built once per authentication mode: with authentication off
//! no operation requires a credential, because none does.

pub mod operations;
pub mod schemas;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use super::API;
use super::route::{Access, Entry};
use operations::{Answer, Spec};

/// A route of the document: its full path and its table entry.
struct Route {
    full: String,
    entry: Entry,
}

/// Every gated route of the core with its full path, in table order: the routes below the API
/// prefix (`api`), then those outside it (`root`).
fn routes(api: Vec<Entry>, root: Vec<Entry>) -> Vec<Route> {
    let api = api.into_iter().map(|entry| Route {
        full: format!("{API}{}", entry.path),
        entry,
    });
    let root = root.into_iter().map(|entry| Route {
        full: entry.path.to_string(),
        entry,
    });
    api.chain(root).collect()
}

/// The document of the route tables (`api`: below the API prefix, `root`: outside it) for a
/// core with authentication on (`auth`) or off.
pub fn document(api: Vec<Entry>, root: Vec<Entry>, auth: bool) -> Value {
    let mut paths = Map::new();
    for route in routes(api, root) {
        let e = &route.entry;
        let spec = operations::spec(e.method, e.path).unwrap_or_else(|| undocumented(e));
        let item = paths.entry(route.full.clone()).or_insert_with(|| json!({}));
        item[e.method] = operation(&route, spec, auth);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dsx-connect core API",
            "version": crate::VERSION,
            "description": "Scan orchestration: connectors submit items, workers scan them, results and jobs are read here. \
                With authentication on, each operation names the credentials it accepts (`x-dsx-access` gives the least \
                role); with it off (loopback only) every request acts as admin and the user, token and sign-in routes \
                answer 404 `auth_disabled`. Errors are `{\"detail\": \"...\"}`, a 422 list of validation issues, or a \
                StatusResponse with `status: error`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas::components(),
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer", "bearerFormat": "dsx_…",
                    "description": "An API token (`dsx-connect token create`) of at least the route's role."},
                "session": {"type": "apiKey", "in": "cookie", "name": "dsx_session",
                    "description": "A browser session from `POST /dsx-connect/api/v1/auth/login` (`__Host-dsx_session` under TLS); \
                        state-changing requests also need the `X-DSX-CSRF` header."},
                "dsxHmac": {"type": "http", "scheme": "DSX-HMAC",
                    "description": "A connector's signature of the request (method, target, body, time, nonce)."},
                "enrollmentToken": {"type": "apiKey", "in": "header", "name": "X-Enrollment-Token",
                    "description": "The shared enrollment token, on the registration route only."},
            },
        },
    })
}

/// A route the operations table does not know yet: listed, without schemas.
fn undocumented(e: &Entry) -> Spec {
    tracing::warn!(method = e.method, path = e.path, "route without OpenAPI documentation");
    Spec {
        summary: "undocumented",
        query: Vec::new(),
        body: None,
        answers: Vec::new(),
    }
}

/// The credentials a route accepts with authentication on.
fn security(access: Access) -> Value {
    let any = |names: &[&str]| -> Value { names.iter().map(|n| json!({ *n: [] })).collect() };
    match access {
        Access::Probe | Access::Public => json!([]),
        Access::Enrollment => any(&["dsxHmac", "enrollmentToken"]),
        Access::ConnectorOr(_) => any(&["dsxHmac", "apiToken", "session"]),
        Access::Viewer | Access::Operator | Access::Admin => any(&["apiToken", "session"]),
    }
}

fn least_role(access: Access) -> String {
    match access {
        Access::ConnectorOr(role) => format!("connector or {}", role.as_str()),
        other => other.as_str().to_string(),
    }
}

fn operation(route: &Route, spec: Spec, auth: bool) -> Value {
    let e = &route.entry;
    let id: String = format!("{}{}", e.method, route.full)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let tag = e.path.trim_start_matches('/').split('/').next().unwrap_or("core");
    let mut params: Vec<Value> = path_params(e.path)
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_schema(name)}))
        .collect();
    for (name, schema, what) in spec.query {
        params.push(json!({"name": name, "in": "query", "required": false, "schema": schema, "description": what}));
    }
    let mut responses = Map::new();
    for (code, what, answer) in spec.answers {
        let body = match answer {
            Answer::Json(schema) => json!({"description": what, "content": {"application/json": {"schema": schema}}}),
            Answer::Empty => json!({"description": what}),
            Answer::Events => {
                json!({"description": what, "content": {"text/event-stream": {"schema": {"type": "string"}}}})
            }
            Answer::Text(media_type) => {
                json!({"description": what, "content": {media_type: {"schema": {"type": "string"}}}})
            }
        };
        responses.insert(code.to_string(), body);
    }
    responses.insert(
        "default".into(),
        json!({
            "description": "an error: 4xx for the request (401/403 for credentials, 404, 405, 408, 413, 422 validation), \
                5xx when a store, engine or connector cannot answer",
            "content": {"application/json": {"schema": schemas::r("Error")}},
        }),
    );
    let mut op = json!({
        "operationId": id,
        "summary": spec.summary,
        "tags": [tag],
        "parameters": params,
        "responses": responses,
        "x-dsx-access": least_role(e.access),
    });
    if let Some(schema) = spec.body {
        // `enqueue_done` also takes an empty body.
        let required = !e.path.ends_with("/enqueue_done");
        op["requestBody"] = json!({"required": required, "content": {"application/json": {"schema": schema}}});
    }
    if auth {
        op["security"] = security(e.access);
    }
    op
}

/// The `{name}` segments of a path.
fn path_params(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// What a path parameter accepts (anything else answers 422, or 404 for an unknown task).
fn path_schema(name: &str) -> Value {
    match name {
        "uuid" | "task_id" => json!({"type": "string", "format": "uuid"}),
        "job_id" => json!({"type": "string", "pattern": "^[A-Za-z0-9._~-]{1,128}$"}),
        "queue_type" => json!({"type": "string", "enum": ["scan_request", "verdict_action", "scan_result"]}),
        _ => json!({"type": "string"}),
    }
}

/// The document a core serves, rendered once when the core starts (from the route tables the
/// router is built from).
pub struct ApiDocument(String);

impl ApiDocument {
    pub fn new(api: Vec<Entry>, root: Vec<Entry>, auth: bool) -> Self {
        Self(document(api, root, auth).to_string())
    }
}

/// `GET /openapi.json`.
pub async fn serve(doc: web::Data<ApiDocument>) -> HttpResponse {
    let body = doc.0.clone();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::access;

    fn full(auth: bool) -> Value {
        document(access::table(), access::root_table(), auth)
    }

    #[test]
    fn every_route_of_the_table_is_documented_with_its_method() {
        let doc = full(true);
        let mut n = 0;
        for route in routes(access::table(), access::root_table()) {
            let e = &route.entry;
            assert!(
                operations::spec(e.method, e.path).is_some(),
                "{} {} has no entry in openapi/operations.rs",
                e.method,
                e.path
            );
            let op = &doc["paths"][&route.full][e.method];
            assert!(op.is_object(), "{} {} missing from the document", e.method, route.full);
            assert!(op["responses"]["default"].is_object());
            assert_eq!(op["x-dsx-access"], least_role(e.access));
            for p in path_params(e.path) {
                assert!(
                    op["parameters"].as_array().unwrap().iter().any(|q| q["name"] == p),
                    "{} {}: path parameter {p}",
                    e.method,
                    route.full
                );
            }
            n += 1;
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|i| i.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, n, "the document lists only the table's routes");
        assert!(doc["paths"]["/dsx-connect/test/connection"]["get"].is_object());
        assert!(doc["paths"]["/openapi.json"]["get"].is_object());
    }

    #[test]
    fn every_reference_names_a_component() {
        let doc = full(true);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        let mut stack = vec![&doc];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(target)) = m.get("$ref") {
                        let name = target.trim_start_matches("#/components/schemas/");
                        assert!(schemas.contains_key(name), "dangling {target}");
                    }
                    stack.extend(m.values());
                }
                Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for req in op["security"].as_array().unwrap() {
                    for name in req.as_object().unwrap().keys() {
                        assert!(schemes.contains_key(name), "unknown scheme {name}");
                    }
                }
            }
        }
    }

    #[test]
    fn without_authentication_no_operation_asks_for_credentials() {
        let doc = full(false);
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                assert!(op.get("security").is_none());
            }
        }
        let on = full(true);
        let meta = &on["paths"]["/dsx-connect/api/v1/meta"]["get"];
        assert_eq!(meta["security"], json!([{"apiToken": []}, {"session": []}]));
        assert_eq!(on["paths"]["/dsx-connect/api/v1/healthz"]["get"]["security"], json!([]));
    }
}
