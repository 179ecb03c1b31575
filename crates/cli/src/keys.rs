//! `medledger keys rotate`: a new master key; every stored key re-wrapped, no entry re-encrypted.

use crate::site::SiteArgs;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum KeysCommand {
    /// Rotate the master key (kept in the data directory, or given in MEDLEDGER_MASTER_KEY with the
    /// new one in MEDLEDGER_NEXT_MASTER_KEY).
    Rotate(SiteArgs),
}

pub(crate) async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate(site) => {
            let store = site.store().await?;
            let (id, count) = medledger_ledger::keyfile::rotate(&site.data_dir, &store).await?;
            store.close().await;
            println!("master key rotated: now {id}; {count} stored keys re-wrapped, no entry re-encrypted");
            Ok(())
        }
    }
}
