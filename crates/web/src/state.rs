//! The one state every route shares: the running hospital, where browsers reach it, and the
//! server's own counters and limits. Cheap to clone (a few `Arc`s).

use std::sync::Arc;

use medledger_hospital::Hospital;

use crate::limits::SignInLimits;
use crate::metrics::HttpCounters;

/// Where this server is, as browsers see it: what sign-in messages must name.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port.
    pub host: String,
}

impl Origin {
    /// The host a sign-in message may name: this origin's, or, for a server on a loopback
    /// address, any loopback name of the same port (a browser opened at `localhost:8080` signs
    /// for `localhost:8080` while the server listens on `127.0.0.1:8080`).
    pub fn accepts<'a>(&'a self, domain: &'a str) -> &'a str {
        const LOOPBACK: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];
        let split = |h: &'a str| match h.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, Some(port)),
            _ => (h, None),
        };
        let (mine, my_port) = split(&self.host);
        let (theirs, their_port) = split(domain);
        if LOOPBACK.contains(&mine) && LOOPBACK.contains(&theirs) && my_port == their_port {
            domain
        } else {
            &self.host
        }
    }
}

/// What every route is handed.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The hospital.
    pub hospital: Arc<Hospital>,
    /// This server's origin.
    pub origin: Origin,
    /// The rate limits on signing in.
    pub sign_in: Arc<SignInLimits>,
    /// Responses counted for `/metrics`.
    pub counters: Arc<HttpCounters>,
    /// The largest transaction Bundle taken, in bytes.
    pub max_transaction: usize,
}

impl AppState {
    /// This server's FHIR base URL (`http://host:port/fhir`).
    pub fn fhir_base(&self) -> String {
        format!("{}://{}/fhir", self.origin.scheme, self.origin.host)
    }
}
