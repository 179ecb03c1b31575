//! A signer's forwarder nonces: handed out in order, one write at a time per signer, and kept
//! without gaps.
//!
//! The forwarder executes a signer's requests strictly in nonce order, and a request signed for
//! nonce `n + 1` cannot run before one signed for `n` has. So:
//!
//! - a new request takes the nonce after every one its signer holds (or the chain's, if higher);
//! - a request declined, refused or expired leaves its nonce unused (a reverted call reverts the
//!   nonce with it), so its signer's later requests are renumbered to close the gap, and those
//!   already signed are offered for signature again ([`Nonces::close_gaps`]);
//! - the relayer sends a signer's requests only in consecutive order (see [`crate::relayer`]).
//!
//! Both the writes and the relayer go through one [`Nonces`], whose per-signer lock keeps a
//! renumbering from crossing a nonce being handed out: the process's own, and on PostgreSQL the
//! database's too ([`Store::lock_signer`]), so that servers sharing one database never hand out
//! one nonce twice.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use medledger_contracts::MedLedgerForwarder;
use medledger_store::{Store, now_ms};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{Error, Result};

/// How long a request stays valid for its signer's wallet (and a re-offered one, from when it is
/// offered again).
pub const REQUEST_LIFETIME_SECS: u64 = 24 * 3600;

/// A signer's nonces held still ([`Nonces::lock`]); released when dropped.
#[derive(Debug)]
pub struct Held {
    // The database's lock is released before the process's (fields drop in order).
    _shared: medledger_store::shared::SignerLock,
    _local: OwnedMutexGuard<()>,
}

/// The forwarder nonces of every signer of one hospital.
#[derive(Debug, Clone)]
pub struct Nonces {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    provider: DynProvider,
    forwarder: Address,
    locks: std::sync::Mutex<HashMap<Address, Arc<Mutex<()>>>>,
}

impl Nonces {
    /// The nonces of the signers of `store`'s requests, for the forwarder at `forwarder`.
    pub fn new(store: Store, provider: DynProvider, forwarder: Address) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                provider,
                forwarder,
                locks: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Holds `signer`'s nonces still: while the guard lives, no other write of theirs is given a
    /// nonce and none of their requests is renumbered, by this server or another on the same
    /// database.
    pub async fn lock(&self, signer: Address) -> Result<Held> {
        let local = self.local_lock(signer).await;
        let shared = self.inner.store.lock_signer(signer).await?;
        Ok(Held {
            _shared: shared,
            _local: local,
        })
    }

    async fn local_lock(&self, signer: Address) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .inner
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if locks.len() >= 4096 {
                // Forget the locks nobody holds or waits for, so the map does not grow with every
                // signer ever seen.
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            locks.entry(signer).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The forwarder's nonce for `signer` at the chain's latest block.
    pub async fn on_chain(&self, signer: Address) -> Result<u64> {
        let forwarder = MedLedgerForwarder::new(self.inner.forwarder, self.inner.provider.clone());
        let nonce: U256 = forwarder.nonces(signer).call().await.map_err(Error::chain)?;
        Ok(nonce.saturating_to())
    }

    /// The nonce `signer`'s next request takes: after every one their open requests hold, and
    /// not below the chain's. The caller holds [`Nonces::lock`] until the request is stored.
    pub async fn next(&self, signer: Address) -> Result<u64> {
        // The held nonces first, the chain's second: a request mined in between is then either
        // still held or counted by the chain. (The other way round, a request mined and marked
        // included between the two reads would be in neither, and its nonce handed out again.)
        let held = self.inner.store.held_nonces(signer).await?;
        let on_chain = self.on_chain(signer).await?;
        let after_held = held.iter().max().map_or(0, |n| n + 1);
        Ok(on_chain.max(after_held))
    }

    /// Closes the gaps in `signer`'s nonces (see [`Store::renumber_nonces`]): their requests not
    /// yet sent, and `reoffer` (sent, but refused by the forwarder because an earlier nonce was
    /// never used), take consecutive nonces from the first free one; those whose nonce changed
    /// await a new signature. Returns their ids.
    pub async fn close_gaps(&self, signer: Address, reoffer: &[i64]) -> Result<Vec<i64>> {
        let _still = self.lock(signer).await?;
        self.close_gaps_locked(signer, reoffer).await
    }

    /// [`Nonces::close_gaps`] for a caller that holds [`Nonces::lock`] already.
    pub async fn close_gaps_locked(&self, signer: Address, reoffer: &[i64]) -> Result<Vec<i64>> {
        let on_chain = self.on_chain(signer).await?;
        let deadline = now_ms() / 1000 + REQUEST_LIFETIME_SECS;
        let changed = self
            .inner
            .store
            .renumber_nonces(signer, on_chain, reoffer, deadline)
            .await?;
        if !changed.is_empty() {
            tracing::info!(%signer, requests = ?changed, "re-offered requests for signature with new forwarder nonces");
        }
        Ok(changed)
    }
}
