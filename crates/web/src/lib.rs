//! MedLedger's HTTP: the JSON API, FHIR R4 and the pages, over a running hospital
//! (`medledger-hospital`).
//!
//! - [`state`]: the one [`AppState`] every route shares.
//! - [`extract`]: who is asking (signed in, a doctor, an admin, a patient's path) and the request's
//!   body, path and query, each refusing with the one error.
//! - [`error`]: the one [`AppError`]: a problem document on the API, an OperationOutcome on FHIR.
//! - [`routes`]: one router per resource of the JSON API, health, and the shared layers.
//! - [`fhir`]: FHIR R4 at `/fhir` over the same records, consent and signed writes.
//! - [`csrf`]: the CSRF token cookie sessions need for changes.
//! - `pages`: the server-rendered pages and their assets (CSS, `wallet.js`, the demo wallet).
//! - [`metrics`]: `/metrics` for Prometheus, for the operator's token.
//! - [`limits`]: rate limits on signing in.
//! - [`serve`]: the HTTP transport, with header and idle timeouts and a cap per client.

pub mod csrf;
pub mod error;
pub mod extract;
pub mod fhir;
pub mod limits;
pub mod metrics;
mod pages;
pub mod routes;
pub mod serve;
pub mod state;

pub use error::AppError;
pub use state::{AppState, Origin};
