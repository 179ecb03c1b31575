//! The in-process transport: an alloy `Transport` that hands requests straight to [`EthApi`], no
//! socket, no HTTP. `RpcClient::new(InProcess::new(api), true)` gives an alloy provider that
//! talks to the embedded chain exactly as it would over JSON-RPC.

use std::sync::Arc;
use std::task::{Context, Poll};

use alloy::rpc::json_rpc::{
    ErrorPayload, RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest,
};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use serde_json::value::RawValue;

use crate::rpc::EthApi;

/// A transport to an [`EthApi`] in this process.
#[derive(Debug, Clone)]
pub struct InProcess {
    api: Arc<EthApi>,
}

impl InProcess {
    /// A transport to `api`.
    pub fn new(api: Arc<EthApi>) -> Self {
        Self { api }
    }
}

impl tower::Service<RequestPacket> for InProcess {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, packet: RequestPacket) -> Self::Future {
        let api = self.api.clone();
        let inline = match &packet {
            RequestPacket::Single(request) => quick(request),
            RequestPacket::Batch(requests) => requests.iter().all(quick),
        };
        Box::pin(async move {
            if inline {
                // Cheaper to answer here than to hand to another thread and back.
                return respond(&api, packet);
            }
            tokio::task::spawn_blocking(move || respond(&api, packet))
                .await
                .map_err(|e| TransportErrorKind::custom_str(&format!("chain task failed: {e}")))?
        })
    }
}

fn respond(api: &EthApi, packet: RequestPacket) -> Result<ResponsePacket, TransportError> {
    match packet {
        RequestPacket::Single(request) => answer(api, request).map(ResponsePacket::Single),
        RequestPacket::Batch(requests) => requests
            .into_iter()
            .map(|request| answer(api, request))
            .collect::<Result<Vec<_>, _>>()
            .map(ResponsePacket::Batch),
    }
}

/// Whether a request is answered in well under a millisecond, so that it may run on the caller's
/// thread: reads of the head, receipts, and calls at the head. (State at a past block is rebuilt
/// by replay, and logs span ranges: those go to the blocking pool.)
fn quick(request: &SerializedRequest) -> bool {
    match request.method() {
        "eth_chainId"
        | "net_version"
        | "eth_blockNumber"
        | "eth_gasPrice"
        | "eth_maxPriorityFeePerGas"
        | "eth_getTransactionReceipt" => true,
        "eth_call" | "eth_getTransactionCount" => {
            let block = request
                .params()
                .and_then(|raw| serde_json::from_str::<Vec<serde_json::Value>>(raw.get()).ok())
                .and_then(|params| params.get(1).cloned());
            match block {
                None => true,
                Some(serde_json::Value::String(tag)) => tag == "latest" || tag == "pending",
                Some(_) => false,
            }
        }
        _ => false,
    }
}

fn answer(api: &EthApi, request: SerializedRequest) -> Result<Response, TransportError> {
    let id = request.id().clone();
    let params = match request.params() {
        Some(raw) => serde_json::from_str(raw.get()).map_err(TransportError::ser_err)?,
        None => serde_json::Value::Null,
    };
    let payload = match api.call(request.method(), params) {
        Ok(value) => ResponsePayload::Success(
            RawValue::from_string(value.to_string()).map_err(TransportError::ser_err)?,
        ),
        Err(error) => ResponsePayload::Failure(ErrorPayload {
            code: error.code(),
            message: error.client_message().into(),
            data: error
                .data()
                .map(|data| RawValue::from_string(serde_json::to_string(data).expect("bytes serialise")))
                .transpose()
                .map_err(TransportError::ser_err)?,
        }),
    };
    Ok(Response { id, payload })
}
