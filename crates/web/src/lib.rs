//! MedLedger's server: everything `medledger serve` runs.
//!
//! - [`routes`]: HTTP: the embedded chain's JSON-RPC at `/rpc`, `/healthz`, `/readyz`, the
//!   landing page, and the first of the JSON API: [`auth`] (Sign-In with Ethereum, sessions).
//! - [`api`]: the records API: register, write, sign, follow, read with proofs, search, audit.
//! - [`people`]: roles, doctors and their applications, a patient's profile and consents.
//! - [`fhir`]: FHIR R4 at `/fhir` over the same records, consent and signed writes.
//! - [`csrf`]: the CSRF token cookie sessions need for changes.
//! - `pages`: the server-rendered pages and their assets (CSS, `wallet.js`, the demo wallet).
//! - [`metrics`]: `/metrics` for Prometheus, for the operator's token.
//! - [`limits`]: rate limits on signing in.
//! - [`serve`]: the HTTP transport, with header and idle timeouts and a cap per client.
//! - [`problem`]: errors as RFC 9457 problem details. (The pages and the rest of the API: issue 5.)

pub mod api;
pub mod auth;
pub mod csrf;
pub mod fhir;
pub mod limits;
pub mod metrics;
mod pages;
pub mod people;
pub mod problem;
pub mod routes;
pub mod serve;
