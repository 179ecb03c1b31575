//! The `medledger` command: parses its arguments and hands over to the library crates.

mod node;

use clap::{Parser, Subcommand};

/// MedLedger: an electronic health record whose every change is signed by its author's wallet
/// and anchored on an Ethereum-compatible chain, with clinical content encrypted off-chain.
#[derive(Debug, Parser)]
#[command(name = "medledger", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded chain alone, serving Ethereum JSON-RPC (like anvil, but durable).
    Node(node::NodeArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Some(Command::Node(args)) => node::run(args),
        None => {
            println!(
                "medledger {}: the web app (`medledger serve`, the default) is not built yet; \
                 `medledger node` runs the embedded chain. `medledger --help` lists the commands.",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
    }
}
