//! The `medledger` command: parses its arguments and hands over to the library crates.

mod client;
mod export;
mod import;
mod keys;
mod node;
mod serve;
mod site;
mod verify;

use clap::{Parser, Subcommand};

/// jemalloc: a request allocates and frees many small buffers across threads (rows, JSON, RPC
/// packets); glibc's malloc spent about a tenth of a history read's CPU on them. (mimalloc was as
/// fast but kept twice the memory.)
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// MedLedger: an electronic health record whose every change is signed by its author's wallet
/// and anchored on an Ethereum-compatible chain, with clinical content encrypted off-chain.
#[derive(Debug, Parser)]
#[command(name = "medledger", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command: `serve`, with these options.
    #[command(flatten)]
    serve: serve::ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run MedLedger: the embedded chain (or an external one), the database, the relayer and the
    /// indexer, and HTTP (the default command).
    Serve(serve::ServeArgs),
    /// Run the embedded chain alone, serving Ethereum JSON-RPC (like anvil, but durable).
    Node(node::NodeArgs),
    /// Check every stored entry and the audit log against the chain; exits 1 on any finding.
    Verify(verify::VerifyArgs),
    /// Load FHIR R4 Bundles into a running server, as a doctor whose wallet key signs each write
    /// here; anchored through the contracts' batch path; an interrupted import resumes.
    Import(import::ImportArgs),
    /// Write a patient's chart as one FHIR R4 Bundle (`$everything`), read from a running server.
    Export(export::ExportArgs),
    /// Manage the master key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Exit codes: 0 success, 1 findings (`verify`) or Bundles not imported (`import`), 2 the command
/// could not do its job.
fn main() -> std::process::ExitCode {
    // Whatever MedLedger creates (the database and its write-ahead log, the chain's files, keys,
    // folders) is its owner's alone: 0600 files in 0700 folders.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // Settings may come from a `.env` file (see `.env.sample`); what the environment already sets
    // wins over it, and a flag over both.
    let dotenv = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match dotenv {
        Ok(path) => tracing::info!("settings read from {}", path.display()),
        Err(e) if e.not_found() => {}
        Err(e) => {
            eprintln!("error: the .env file could not be read: {e}");
            return std::process::ExitCode::from(2);
        }
    }
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Some(Command::Node(args)) => node::run(args).map(|()| std::process::ExitCode::SUCCESS),
        Some(Command::Verify(args)) => {
            let clean = runtime()?.block_on(verify::run(args))?;
            Ok(if clean {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
        Some(Command::Import(args)) => {
            let all = runtime()?.block_on(import::run(args))?;
            Ok(if all {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
        Some(Command::Export(args)) => {
            runtime()?.block_on(export::run(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Keys(command)) => {
            runtime()?.block_on(keys::run(command))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Serve(args)) => serve::run(args).map(|()| std::process::ExitCode::SUCCESS),
        None => serve::run(cli.serve).map(|()| std::process::ExitCode::SUCCESS),
    }
}

/// Installs the Ctrl-C and SIGTERM handlers at once, and resolves when either signal comes. Call
/// it before saying the server is up: a signal sent as soon as it says so must stop it gracefully,
/// not kill it, as it would before the handlers are installed.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    }
}
