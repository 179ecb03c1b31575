//! The `medledger` command: parses its arguments and hands over to the library crates.

use clap::Parser;

/// MedLedger: an electronic health record whose every change is signed by its author's wallet
/// and anchored on an Ethereum-compatible chain, with clinical content encrypted off-chain.
#[derive(Debug, Parser)]
#[command(name = "medledger", version, about, long_about = None)]
#[command(
    after_help = "The server, the embedded chain and the operator commands arrive as the \
    issues that build them land; see README.md for what works today."
)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    println!(
        "medledger {}: no command to run yet. `medledger --help` lists what exists.",
        env!("CARGO_PKG_VERSION")
    );
    Ok(())
}
