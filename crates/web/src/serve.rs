//! The HTTP transport: connections accepted, served and closed, with the limits a hospital's
//! security review asks for.
//!
//! `axum::serve` sets no timer, so a client that sends half a request, or keeps a connection open
//! and idle, holds it for ever. Here every connection is served by hyper with a timer:
//!
//! - a request's head must arrive within [`Limits::header_read_timeout`], and an idle keep-alive
//!   connection is closed when no new request starts within it (hyper starts the same timer
//!   while it waits for the next request);
//! - a request's body must arrive within [`crate::routes::BODY_TIMEOUT`] (a tower-http layer);
//! - one client address holds at most [`Limits::max_connections_per_client`] connections: a
//!   further one is closed at once;
//! - on shutdown, idle connections close at once and busy ones finish their request.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// What one connection may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's head, and an idle connection may wait.
    pub header_read_timeout: Duration,
    /// How many connections one client address may hold at once.
    pub max_connections_per_client: usize,
    /// How long a shutdown waits for requests still being served.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections_per_client: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The connections each client address holds.
#[derive(Debug, Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

/// One client's place, given back when its connection closes.
struct Seat {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Clients {
    fn seat(self: &Arc<Self>, ip: IpAddr, most: usize) -> Option<Seat> {
        let mut held = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(ip).or_default();
        if *n >= most {
            return None;
        }
        *n += 1;
        Some(Seat {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut held = self
            .clients
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight finish
/// (for at most [`Limits::shutdown_grace`]). Each request carries the client's address as
/// [`ConnectInfo`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let clients = Arc::new(Clients::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!("accepting a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(seat) = clients.seat(remote.ip(), limits.max_connections_per_client) else {
            tracing::debug!(client = %remote.ip(), "too many connections from one client: closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(remote));
                request
            },
        ));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(client = %remote, "connection ended: {err}");
            }
            drop(seat);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running {} s after the stop: closed",
            limits.shutdown_grace.as_secs()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_seats_and_gets_them_back() {
        let clients = Arc::new(Clients::default());
        let ip: IpAddr = [10, 0, 0, 1].into();
        let seats: Vec<Seat> = (0..3).filter_map(|_| clients.seat(ip, 3)).collect();
        assert_eq!(seats.len(), 3);
        assert!(clients.seat(ip, 3).is_none(), "a fourth is refused");
        assert!(
            clients.seat([10, 0, 0, 2].into(), 3).is_some(),
            "another client is not"
        );
        drop(seats);
        assert!(
            clients.seat(ip, 3).is_some(),
            "seats come back when connections close"
        );
    }
}
