//! `medledger serve` (the default command): the whole system on one port.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use alloy::primitives::Address;
use anyhow::Context;
use medledger_chain::{DEFAULT_CHAIN_ID, DEV_ACCOUNTS};
use medledger_hospital::{Config, Hospital};

use crate::site::SiteArgs;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "MEDLEDGER_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port to listen on (0: any free port).
    #[arg(long, env = "MEDLEDGER_PORT", default_value_t = 8080)]
    port: u16,
    #[command(flatten)]
    site: SiteArgs,
    /// The embedded chain's id (when it is created).
    #[arg(long, env = "MEDLEDGER_CHAIN_ID", default_value_t = DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// The contracts' first admin, a hospital administrator's wallet. Without it, on the embedded
    /// chain, MedLedger starts as a demo whose admin is the public development account 0.
    #[arg(long, env = "MEDLEDGER_ADMIN", value_name = "ADDRESS")]
    admin: Option<Address>,
    /// Seconds a client may take to send a request's head, and a kept-alive connection may sit
    /// idle, before it is closed.
    #[arg(
        long,
        env = "MEDLEDGER_HEADER_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    header_timeout: u64,
    /// Connections one client address may hold at once (more are closed at once).
    #[arg(
        long,
        env = "MEDLEDGER_MAX_CONNECTIONS_PER_CLIENT",
        value_name = "N",
        default_value_t = 256
    )]
    max_connections_per_client: usize,
    /// A reverse proxy in front of this server (repeat for several): requests from it are taken
    /// to come from the client its `X-Forwarded-For` names (for the limits on signing in).
    #[arg(
        long,
        env = "MEDLEDGER_TRUSTED_PROXY",
        value_name = "IP",
        value_delimiter = ','
    )]
    trusted_proxy: Vec<std::net::IpAddr>,
    /// The token `/metrics` asks for (`Authorization: Bearer TOKEN`); default: the one in the data
    /// directory's `metrics.token`, made on first start.
    #[arg(
        long,
        env = "MEDLEDGER_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    metrics_token: Option<String>,
    /// The largest FHIR transaction Bundle taken, in MiB (at least 16, what a year of an
    /// inpatient's chart needs; `medledger import` sends at most 12).
    #[arg(
        long,
        env = "MEDLEDGER_MAX_TRANSACTION_MIB",
        value_name = "MIB",
        default_value_t = 16,
        value_parser = clap::value_parser!(u16).range(16..=1024)
    )]
    max_transaction_mib: u16,
    /// The URL browsers reach this server at, if not http://HOST:PORT (behind a TLS proxy, say).
    #[arg(long, env = "MEDLEDGER_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Blocks an event must be buried under before it is trusted (default: 0 on the embedded
    /// chain, which never reorganises; 12 on an external one).
    #[arg(long, env = "MEDLEDGER_CONFIRMATIONS", value_name = "BLOCKS")]
    confirmations: Option<u64>,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config {
        data_dir: args.site.data_dir.clone(),
        database_url: args.site.database_url.clone(),
        rpc_url: args.site.rpc_url.clone(),
        chain_id: args.chain_id,
        admin: args.admin,
        confirmations: args
            .confirmations
            .unwrap_or(if args.site.rpc_url.is_some() { 12 } else { 0 }),
        metrics_token: args.metrics_token.clone(),
    };
    let hospital = Arc::new(
        Hospital::open(&config)
            .await
            .with_context(|| format!("starting MedLedger in {}", config.data_dir.display()))?,
    );
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = hospital.spawn_loops(stopped);
    let shutdown = crate::shutdown_signal();

    if hospital.demo {
        println!(
            "Demo setup: the public development accounts are funded (their keys are public, never use them for real):"
        );
        for (i, account) in DEV_ACCOUNTS.iter().enumerate() {
            let role = if i == 0 { "  <- admin" } else { "" };
            println!("  ({i}) {account}{role}");
        }
    }
    let d = hospital.deployment;
    println!(
        "MedLedger contract {} and forwarder {} on chain {}",
        d.ledger, d.forwarder, d.chain_id
    );
    println!("Relayer account (pays the gas): {}", hospital.relayer_account);
    if hospital.rpc().is_some() {
        println!("Embedded chain JSON-RPC: http://{local}/rpc");
    }
    println!("MedLedger is running at http://{local}/");

    // Sign-in messages must name the origin browsers use; behind a proxy, say it with --public-url.
    let origin = match &args.public_url {
        Some(url) => {
            let (scheme, host) = url
                .trim_end_matches('/')
                .split_once("://")
                .context("--public-url is scheme://host[:port], e.g. https://records.example.org")?;
            medledger_web::Origin {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
            }
        }
        None => medledger_web::Origin {
            scheme: "http".into(),
            host: local.to_string(),
        },
    };
    let options = medledger_web::routes::Options {
        trusted_proxies: args.trusted_proxy.clone(),
        max_transaction: usize::from(args.max_transaction_mib) << 20,
    };
    let app = medledger_web::routes::router_with(hospital.clone(), origin, options);
    let closing = hospital.closing.clone();
    let limits = medledger_web::serve::Limits {
        header_read_timeout: std::time::Duration::from_secs(args.header_timeout),
        max_connections_per_client: args.max_connections_per_client,
        ..Default::default()
    };
    medledger_web::serve::serve(listener, app, limits, async move {
        shutdown.await;
        // Long polls answer now, so that shutting down waits only for real work.
        closing.send_replace(true);
    })
    .await?;
    let _ = stop.send(true);
    // The relayer's loop anchors the audit log's head once more as it stops.
    let _ = loops.await;
    hospital.close().await;
    Ok(())
}
