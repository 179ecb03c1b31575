//! Deploying MedLedger: the forwarder first, then the registry that trusts it.

use alloy::network::Ethereum;
use alloy::primitives::Address;
use alloy::providers::Provider;

use crate::{MedLedger, MedLedgerForwarder, Result};

/// Where a MedLedger deployment lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The ERC-2771 forwarder that relays signed requests.
    pub forwarder: Address,
    /// The MedLedger registry.
    pub ledger: Address,
}

/// Deploys the forwarder and the registry from the provider's default sender. `admin` becomes the
/// default admin and first hospital admin; a default-admin transfer waits `admin_delay_secs`. No
/// account holds the auditor role until an admin grants it (see [`deploy_hospital`]).
pub async fn deploy<P: Provider<Ethereum>>(
    provider: &P,
    admin: Address,
    admin_delay_secs: u64,
) -> Result<Deployment> {
    deploy_hospital(provider, admin, Address::ZERO, admin_delay_secs).await
}

/// [`deploy`], with `auditor` (the hospital server's own account) holding the auditor role from
/// the start, so that it anchors its audit log's head without waiting for an admin.
pub async fn deploy_hospital<P: Provider<Ethereum>>(
    provider: &P,
    admin: Address,
    auditor: Address,
    admin_delay_secs: u64,
) -> Result<Deployment> {
    let forwarder = MedLedgerForwarder::deploy(provider).await?;
    let delay = alloy::primitives::aliases::U48::from(admin_delay_secs);
    let ledger = MedLedger::deploy(provider, *forwarder.address(), admin, auditor, delay).await?;
    Ok(Deployment {
        forwarder: *forwarder.address(),
        ledger: *ledger.address(),
    })
}
