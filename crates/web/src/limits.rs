//! Rate limits on signing in: per client address and per wallet (GCRA, with governor), and a
//! bound on the sign-in nonces outstanding at once. A refusal is a 429 with `Retry-After`.
//!
//! Signing in is the one door anyone may knock at: without limits, a client asks for thousands of
//! nonces a second (each a row until it expires) and tries a wallet's sign-in as often as it likes.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use alloy::primitives::Address;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::AppError;

/// Sign-in requests (nonces and logins) one client address may make: a burst of 60, then 10 a
/// second.
const PER_CLIENT_BURST: u32 = 60;
const PER_CLIENT_PER_SECOND: u32 = 10;
/// Sign-in attempts for one wallet: a burst of 10, then one every 6 seconds.
const PER_WALLET_BURST: u32 = 10;
const PER_WALLET_PER_MINUTE: u32 = 10;
/// The most sign-in nonces outstanding (issued, unused, unexpired) at once.
pub const MOST_OUTSTANDING_NONCES: u64 = 10_000;
/// Keys kept before the limiters forget those that are full again.
const MOST_KEYS: usize = 50_000;

/// The sign-in limiters of one server.
#[derive(Debug)]
pub struct SignInLimits {
    by_client: DefaultKeyedRateLimiter<IpAddr>,
    by_wallet: DefaultKeyedRateLimiter<Address>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (behind one, every request comes
    /// from the proxy's address).
    trusted_proxies: Vec<IpAddr>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        let nonzero = |n: u32| NonZeroU32::new(n).expect("a positive quota");
        Self {
            by_client: RateLimiter::keyed(
                Quota::per_second(nonzero(PER_CLIENT_PER_SECOND)).allow_burst(nonzero(PER_CLIENT_BURST)),
            ),
            by_wallet: RateLimiter::keyed(
                Quota::per_minute(nonzero(PER_WALLET_PER_MINUTE)).allow_burst(nonzero(PER_WALLET_BURST)),
            ),
            trusted_proxies: Vec::new(),
        }
    }
}

impl SignInLimits {
    /// Limits that take the client's address from `X-Forwarded-For` when the request comes from
    /// one of `proxies`.
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpAddr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The client's address: the peer the transport put on the request, or, when that peer is a
    /// trusted proxy, the nearest address before it in `X-Forwarded-For` that is not a trusted
    /// proxy too. (None in tests that call the router directly: they share one allowance.)
    pub fn client_of(&self, extensions: &axum::http::Extensions, headers: &HeaderMap) -> IpAddr {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }

    /// Counts one sign-in request from `client`; a 429 once its allowance is spent.
    pub fn client(&self, client: IpAddr) -> Result<(), AppError> {
        if self.by_client.len() > MOST_KEYS {
            self.by_client.retain_recent();
        }
        self.by_client.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::too_many(
                format!(
                    "too many sign-in requests from your address: wait {} s and try again",
                    seconds(wait)
                ),
                wait,
            )
        })
    }

    /// Counts one sign-in attempt for `wallet`; a 429 once its allowance is spent.
    pub fn wallet(&self, wallet: Address) -> Result<(), AppError> {
        if self.by_wallet.len() > MOST_KEYS {
            self.by_wallet.retain_recent();
        }
        self.by_wallet.check_key(&wallet).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::too_many(
                format!(
                    "too many sign-in attempts for {wallet}: wait {} s and sign a new message",
                    seconds(wait)
                ),
                wait,
            )
        })
    }
}

/// Whole seconds to wait, at least one.
fn seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_a_429_with_retry_after() {
        let limits = SignInLimits::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..PER_CLIENT_BURST {
            assert!(limits.client(ip).is_ok());
        }
        let refused = axum::response::IntoResponse::into_response(limits.client(ip).unwrap_err());
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(axum::http::header::RETRY_AFTER));
        assert!(
            limits.client([192, 0, 2, 2].into()).is_ok(),
            "another client is not held up"
        );
        let wallet = Address::repeat_byte(1);
        for _ in 0..PER_WALLET_BURST {
            assert!(limits.wallet(wallet).is_ok());
        }
        assert!(limits.wallet(wallet).is_err());
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_forwarded_one() {
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let mut extensions = axum::http::Extensions::new();
        extensions.insert(ConnectInfo(proxy));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        let direct = SignInLimits::default();
        assert_eq!(
            direct.client_of(&extensions, &headers),
            proxy.ip(),
            "an untrusted peer's header is ignored"
        );
        let proxied = SignInLimits::default().with_trusted_proxies(vec![proxy.ip()]);
        assert_eq!(
            proxied.client_of(&extensions, &headers),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the nearest forwarded address"
        );
    }
}
