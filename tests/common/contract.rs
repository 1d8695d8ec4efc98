//! The API's contract, checked on every request a test makes: `serve` runs the real app behind a
//! middleware that holds each `/api/v1` exchange against the OpenAPI document the app serves — the status
//! must be one the operation lists, a JSON body must match the schema declared for that status, and a
//! request body must match the operation's request schema whenever the server took it (2xx), while a
//! body the document allows must never be refused as malformed (400), and its refusal's `field` must be
//! one of the operation's inputs (a body key or a parameter). Requests a test sends malformed on purpose
//! are therefore fine as long as the server refuses them; only what the server accepts, or answers, is
//! held to the document.
//!
//! A violation replaces the answer with status 599 and a text naming the operation, the status and the
//! schema error (also printed to stderr), so the test that saw it fails on its own assertions or, for the
//! fuzz tests, on "no 5xx".
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fieldservice::app::{self, AppState};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// `app::serve`, with every `/api/v1` exchange checked against the OpenAPI document.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let app = app::router(state).layer(axum::middleware::from_fn(check));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}

/// The document and the validators compiled from it so far (keyed by the schema's JSON pointer).
pub struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc = serde_json::to_value(app::openapi()).expect("the OpenAPI document serialises");
        Contract { doc, validators: Mutex::new(HashMap::new()) }
    })
}

/// The operation serving `method path`: the document's path template that matches with the most
/// literal segments (`/orders/search` before `/orders/{id}`).
fn operation(doc: &Value, method: &str, path: &str) -> Option<(String, Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, String, Value)> = None;
    for (template, item) in doc["paths"].as_object()? {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let matches = parts.iter().zip(&segments).all(|(p, s)| p.starts_with('{') || p == s);
        let Some(op) = item.get(method.to_lowercase()) else { continue };
        let literal = parts.iter().filter(|p| !p.starts_with('{')).count();
        if matches && best.as_ref().is_none_or(|(n, ..)| literal > *n) {
            best = Some((literal, template.clone(), op.clone()));
        }
    }
    best.map(|(_, template, op)| (template, op))
}

/// The schema with OpenAPI's integer formats spelled out as bounds (JSON Schema ignores `format` on
/// numbers, so `1e300` would pass as an `int64`).
fn with_integer_bounds(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), with_integer_bounds(v))).collect();
            let bounds = match map.get("format").and_then(Value::as_str) {
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                out.entry("minimum").or_insert(min);
                out.entry("maximum").or_insert(max);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(with_integer_bounds).collect()),
        other => other.clone(),
    }
}

impl Contract {
    /// Validates `instance` against the schema at `pointer` in the document, `$ref`s resolved against its components.
    fn validate(&self, pointer: &str, instance: &Value) -> Result<(), String> {
        let validator = {
            let mut cache = self.validators.lock().unwrap();
            let entry = cache.entry(pointer.to_string());
            match entry {
                std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let schema = self.doc.pointer(pointer).ok_or_else(|| format!("no schema at {pointer}"))?;
                    let root = json!({
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "allOf": [with_integer_bounds(schema)],
                        "components": with_integer_bounds(&self.doc["components"]),
                    });
                    let compiled = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(&root)
                        .map_err(|e| format!("the schema at {pointer} does not compile: {e}"))?;
                    v.insert(Arc::new(compiled)).clone()
                }
            }
        };
        let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// JSON-pointer escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Whether every integer path parameter of the operation parses, so a 400 can only be about the body.
fn path_is_well_formed(op: &Value, template: &str, path: &str) -> bool {
    let integers: Vec<String> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "path" && p["schema"]["type"] == "integer")
        .filter_map(|p| p["name"].as_str().map(|n| format!("{{{n}}}")))
        .collect();
    template.split('/').zip(path.split('/')).all(|(t, s)| !integers.iter().any(|n| n == t) || s.parse::<i64>().is_ok())
}

/// The names a refusal's `field` may take: the keys of the request body (any content type) and the parameters.
fn input_names(doc: &Value, op: &Value) -> Vec<String> {
    fn keys(doc: &Value, schema: &Value, out: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            return keys(doc, &doc["components"]["schemas"][name], out);
        }
        out.extend(schema["properties"].as_object().into_iter().flat_map(|p| p.keys().cloned()));
        for combinator in ["allOf", "oneOf", "anyOf"] {
            for member in schema[combinator].as_array().into_iter().flatten() {
                keys(doc, member, out);
            }
        }
    }
    let mut out = Vec::new();
    for content in op["requestBody"]["content"].as_object().into_iter().flat_map(|c| c.values()) {
        keys(doc, &content["schema"], &mut out);
    }
    out.extend(op["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str().map(str::to_string)));
    out
}

/// The violations of one exchange.
pub fn violations(c: &Contract, method: &str, path: &str, query: Option<&str>, request: (&HeaderMap, &Bytes), response: (StatusCode, &HeaderMap, &Bytes)) -> Vec<String> {
    let Some((template, op)) = operation(&c.doc, method, path) else { return Vec::new() };
    let base = format!("/paths/{}/{}", escape(&template), method.to_lowercase());
    let (status, response_headers, response_body) = response;
    let mut out = Vec::new();

    let declared = &op["responses"][status.as_str()];
    if declared.is_null() {
        out.push(format!("status {status} is not among the documented {:?}", op["responses"].as_object().map(|r| r.keys().cloned().collect::<Vec<_>>())));
    } else if is_json(response_headers) {
        match serde_json::from_slice::<Value>(response_body) {
            Err(e) => out.push(format!("the {status} body is not JSON: {e}")),
            Ok(body) if declared["content"]["application/json"]["schema"].is_null() => {
                out.push(format!("the {status} answer has a JSON body the document does not declare: {body}"))
            }
            Ok(body) => {
                let pointer = format!("{base}/responses/{}/content/application~1json/schema", status.as_str());
                if let Err(e) = c.validate(&pointer, &body) {
                    out.push(format!("the {status} body does not match its schema: {e}; body: {body:.600}"));
                }
            }
        }
    }

    let (request_headers, request_body) = request;
    let json_body = !op["requestBody"]["content"]["application/json"]["schema"].is_null() && is_json(request_headers);
    let verdict = json_body.then(|| {
        let pointer = format!("{base}/requestBody/content/application~1json/schema");
        serde_json::from_slice::<Value>(request_body).map_err(|e| e.to_string()).and_then(|body| c.validate(&pointer, &body))
    });

    // A refusal of input the document allows names that input (for input it forbids, anything goes).
    if status.is_client_error()
        && !matches!(verdict, Some(Err(_)))
        && let Ok(body) = serde_json::from_slice::<Value>(response_body)
        && let Some(field) = body["error"]["field"].as_str()
    {
        let inputs = input_names(&c.doc, &op);
        if !inputs.iter().any(|name| name == field) {
            out.push(format!("the refusal names field {field:?}, which is none of the operation's inputs {inputs:?}"));
        }
    }

    if let Some(verdict) = verdict {
        match verdict {
            Err(e) if status.is_success() => out.push(format!("the server accepted ({status}) a request body the document forbids: {e}")),
            Ok(()) if status == StatusCode::BAD_REQUEST && query.is_none() && path_is_well_formed(&op, &template, path) => {
                out.push(format!("a request body the document allows was refused as malformed: {}", String::from_utf8_lossy(response_body)))
            }
            _ => {}
        }
    }
    out
}

async fn check(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if !path.starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_string();
    let query = request.uri().query().map(str::to_string);
    let (mut parts, body) = request.into_parts();
    // The bodies are checked as JSON text, so none may come back compressed.
    parts.headers.remove(header::ACCEPT_ENCODING);
    let request_body = axum::body::to_bytes(body, usize::MAX).await.expect("the test's request body is readable");
    let request_headers = parts.headers.clone();
    let response = next.run(Request::from_parts(parts, Body::from(request_body.clone()))).await;
    let (parts, body) = response.into_parts();
    let response_body = axum::body::to_bytes(body, usize::MAX).await.expect("the response body is readable");
    let found = violations(contract(), &method, &path, query.as_deref(), (&request_headers, &request_body), (parts.status, &parts.headers, &response_body));
    if found.is_empty() {
        return Response::from_parts(parts, Body::from(response_body));
    }
    let report = format!("CONTRACT VIOLATION {method} {path} → {}:\n  {}", parts.status, found.join("\n  "));
    eprintln!("{report}");
    (StatusCode::from_u16(599).unwrap(), report).into_response()
}
