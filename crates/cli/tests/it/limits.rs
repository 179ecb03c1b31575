//! What a hospital's security review asks of the transport, against the real server: a half-sent
//! request and an idle kept-alive connection are closed after the header timeout, one client
//! holds at most its share of connections, and signing in is rate-limited with `Retry-After`.
//! (Regression: 200 half-sent requests were held for 20 s, one for 90 s; 3,300 nonces were handed
//! out in 3.6 s.)

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::serve::Server;
use crate::util::DataDir;

/// The header timeout the server runs with here.
const TIMEOUT_SECS: u64 = 2;
/// The connections one client may hold here.
const PER_CLIENT: usize = 4;

fn connect(url: &str) -> TcpStream {
    let stream = TcpStream::connect(url.trim_start_matches("http://")).expect("the server accepts");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// How long until the server closes `stream` (reading whatever it sends first).
fn closed_after(mut stream: TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("the server did not close the connection within 20 s: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_greedy_clients_are_cut_off_and_sign_in_is_rate_limited() {
    let dir = DataDir::new("limits");
    let server = Server::start_with(
        &dir,
        &[
            "--header-timeout",
            &TIMEOUT_SECS.to_string(),
            "--max-connections-per-client",
            &PER_CLIENT.to_string(),
        ],
    );
    let url = server.url.clone();

    tokio::task::spawn_blocking(move || {
        // Half a request head, then nothing: closed once the header timeout passes.
        let mut half = connect(&url);
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let waited = closed_after(half);
        assert!(
            waited >= Duration::from_secs(TIMEOUT_SECS - 1) && waited < Duration::from_secs(TIMEOUT_SECS + 5),
            "a half-sent request is closed after the header timeout, not {waited:?}"
        );

        // A whole request answered, then the connection kept alive and idle: closed too.
        let mut idle = connect(&url);
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let waited = closed_after(idle);
        assert!(
            waited < Duration::from_secs(TIMEOUT_SECS + 5),
            "an idle kept-alive connection is closed, not held {waited:?}"
        );

        // One client holds at most its share: the next connection is closed at once.
        let held: Vec<TcpStream> = (0..PER_CLIENT).map(|_| connect(&url)).collect();
        std::thread::sleep(Duration::from_millis(300));
        let greedy = connect(&url);
        let waited = closed_after(greedy);
        assert!(
            waited < Duration::from_secs(1),
            "a connection past the client's share is closed at once, not after {waited:?}"
        );
        drop(held);
    })
    .await
    .unwrap();

    // Signing in: a burst, then 429 with Retry-After.
    std::thread::sleep(Duration::from_secs(TIMEOUT_SECS + 1));
    let http = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..200 {
        let answer = http
            .get(format!("{}/api/v1/auth/nonce", server.url))
            .send()
            .await
            .unwrap();
        if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
    }
    let refused = refused.expect("a client asking for nonces without pause is refused");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("wait"), "{problem}");
    server.stop();
}
