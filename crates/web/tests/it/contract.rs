//! The API contract: every answer a test gets from `/api/…` must be one the OpenAPI document
//! promises, status and Content-Type documented for that route and method, body valid against the
//! documented schema. Checked on every call the tests make (see `Site::call_with`), so the
//! document cannot drift from what the server does.

use std::sync::OnceLock;

use axum::http::StatusCode;
use serde_json::Value;

/// The served document (the same file the router serves at `/api/openapi.json`).
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(medledger_web::routes::OPENAPI).expect("the OpenAPI document is JSON")
    })
}

/// The document's path template that `path` (without its query) matches.
fn template(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let wanted: Vec<&str> = path.split('/').collect();
    let paths = document()["paths"].as_object()?;
    // A literal segment beats a parameter (`/api/v1/doctors/applications` over `{address}`).
    let mut best: Option<(&'static str, usize)> = None;
    for (name, _) in paths {
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() != wanted.len() {
            continue;
        }
        let fits = parts
            .iter()
            .zip(&wanted)
            .all(|(p, w)| p == w || (p.starts_with('{') && p.ends_with('}')));
        let literal = parts.iter().filter(|p| !p.starts_with('{')).count();
        if fits && best.is_none_or(|(_, l)| literal > l) {
            best = Some((name.as_str(), literal));
        }
    }
    best.map(|(name, _)| name)
}

/// One token of a JSON pointer in a URI fragment: `~` and `/` escaped as JSON pointers say, `{`
/// and `}` percent-encoded as URIs say.
fn escape(token: &str) -> String {
    token
        .replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// Panics unless `status`, `content_type` and `body` are what the document promises for `method`
/// `path`. Routes outside `/api/v1/` are not the JSON API's.
pub(crate) fn check(method: &str, path: &str, status: StatusCode, content_type: &str, body: &Value) {
    if !path.starts_with("/api/v1/") {
        return;
    }
    let Some(template) = template(path) else {
        // No such route: a 404 problem, and nothing else.
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: not a route");
        assert!(
            content_type.starts_with("application/problem+json"),
            "{method} {path}: {content_type}"
        );
        return;
    };
    let method = method.to_ascii_lowercase();
    let operation = &document()["paths"][template][&method];
    // A method the route does not have is the router's 405; the document lists only real ones.
    if operation.is_null() {
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: not in the OpenAPI document"
        );
        return;
    }
    let code = status.as_str();
    let response = &operation["responses"][code];
    assert!(
        !response.is_null(),
        "{method} {template}: status {code} is not documented (body {body})"
    );
    let media = content_type.split(';').next().unwrap_or("").trim();
    let Some(content) = response["content"].as_object() else {
        assert!(
            media.is_empty() || body.is_null(),
            "{method} {template} {code}: documented without a body, answered {media} {body}"
        );
        return;
    };
    // A file is answered in its own media type, where the document says any (`*/*`).
    if !content.contains_key(media) && content.contains_key("*/*") {
        return;
    }
    let Some(schema) = content.get(media).map(|c| &c["schema"]) else {
        panic!(
            "{method} {template} {code}: answered {media:?}, documented {:?}",
            content.keys().collect::<Vec<_>>()
        );
    };
    if schema.is_null() {
        return;
    }
    // The whole document is the root, so that `#/components/…` resolves; a `$ref` to the
    // response's schema makes it the one that applies.
    let mut root = document().clone();
    root["$ref"] = Value::String(format!(
        "#/paths/{}/{method}/responses/{code}/content/{}/schema",
        escape(template),
        escape(media)
    ));
    let validator = jsonschema::draft202012::new(&root).unwrap_or_else(|e| {
        panic!("{method} {template} {code}: the documented schema does not compile: {e}")
    });
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {code}: the answer does not match the OpenAPI schema: {errors:?}\n{body:#}"
    );
}
