//! Integration tests of the embedded chain, driven as its users drive it: an alloy provider over
//! the in-process transport, JSON-RPC bodies, restarts, and a data directory edited behind its back.

mod durability;
mod provider;
mod rpc_errors;
mod util;
