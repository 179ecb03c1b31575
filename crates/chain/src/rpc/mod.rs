//! Ethereum JSON-RPC 2.0: the envelope (single and batch requests, notifications, errors), the
//! request enum, its dispatch, and the wire types.

mod api;
mod convert;
mod filters;
mod request;

pub use api::{EthApi, MAX_LOG_RANGE};
pub use request::EthRequest;

use serde_json::{Map, Value, json};

use crate::Error;

/// The most requests one batch may hold.
pub const MAX_BATCH: usize = 1000;

/// Answers a JSON-RPC body: one response, an array of them for a batch, or `None` when the body
/// held only notifications.
pub fn handle_body(api: &EthApi, body: &[u8]) -> Option<Value> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return Some(failure(Value::Null, &Error::Parse(e.to_string()))),
    };
    match value {
        Value::Array(items) if items.is_empty() => {
            Some(failure(Value::Null, &Error::InvalidRequest("empty batch".into())))
        }
        Value::Array(items) if items.len() > MAX_BATCH => Some(failure(
            Value::Null,
            &Error::InvalidRequest(format!("batch of {} requests exceeds {MAX_BATCH}", items.len())),
        )),
        Value::Array(items) => {
            let responses: Vec<Value> = items
                .into_iter()
                .filter_map(|item| handle_one(api, item))
                .collect();
            (!responses.is_empty()).then_some(Value::Array(responses))
        }
        single => handle_one(api, single),
    }
}

fn handle_one(api: &EthApi, request: Value) -> Option<Value> {
    let Value::Object(mut request) = request else {
        return Some(failure(
            Value::Null,
            &Error::InvalidRequest("a request must be a JSON object".into()),
        ));
    };
    let id = request.remove("id");
    let notification = id.is_none();
    let id = id.unwrap_or(Value::Null);
    let outcome = envelope(&mut request).and_then(|(method, params)| api.call(&method, params));
    if notification {
        return None;
    }
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => failure(id, &error),
    })
}

fn envelope(request: &mut Map<String, Value>) -> Result<(String, Value), Error> {
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(Error::InvalidRequest("\"jsonrpc\" must be \"2.0\"".into()));
    }
    let method = match request.remove("method") {
        Some(Value::String(method)) => method,
        _ => return Err(Error::InvalidRequest("\"method\" must be a string".into())),
    };
    Ok((method, request.remove("params").unwrap_or(Value::Null)))
}

/// A JSON-RPC error response for `error`.
pub fn failure(id: Value, error: &Error) -> Value {
    let mut body = json!({ "code": error.code(), "message": error.client_message() });
    if let Some(data) = error.data() {
        body["data"] = json!(data);
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": body })
}
