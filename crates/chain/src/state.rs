//! The world state at the chain's head, and how a block's changes are collected and applied.
//!
//! The state lives in memory (revm's `CacheDB` over nothing) and is rebuilt at start by applying
//! every stored block's [`AccountChange`]s in order; the block log on disk is its source of truth.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256};
use revm::bytecode::Bytecode;
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::DatabaseRef;
use revm::state::{AccountInfo, EvmState};

use crate::store::{AccountChange, StorageChange};

/// The state at the head of the chain.
pub(crate) type World = CacheDB<EmptyDB>;

/// Applies one block's changes to `world`.
pub(crate) fn apply(world: &mut World, changes: &[AccountChange]) {
    for change in changes {
        if change.destroyed
            && let Some(account) = world.cache.accounts.get_mut(&change.address)
        {
            account.storage.clear();
            account.info = AccountInfo::default();
        }
        let mut info = world
            .cache
            .accounts
            .get(&change.address)
            .map(|account| account.info.clone())
            .unwrap_or_default();
        info.balance = change.balance;
        info.nonce = change.nonce;
        if !change.code.is_empty() {
            let code = Bytecode::new_raw(change.code.clone());
            info.code_hash = code.hash_slow();
            info.code = Some(code);
        }
        world.insert_account_info(change.address, info);
        for StorageChange { slot, value } in &change.storage {
            world
                .insert_account_storage(change.address, *slot, *value)
                .expect("the in-memory database never fails");
        }
    }
}

/// The changes of the transactions executed so far in a block, merged per account.
#[derive(Debug, Default)]
pub(crate) struct BlockChanges {
    accounts: BTreeMap<Address, Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    balance: U256,
    nonce: u64,
    code: Bytes,
    storage: BTreeMap<U256, U256>,
    destroyed: bool,
}

impl BlockChanges {
    /// Adds what one transaction changed.
    pub(crate) fn record(&mut self, state: &EvmState) {
        for (address, account) in state {
            if !account.is_touched() {
                continue;
            }
            let pending = self.accounts.entry(*address).or_default();
            if account.is_selfdestructed() || account.is_empty() {
                // Destroyed, or touched and empty (EIP-161): what this block wrote before is gone too.
                *pending = Pending {
                    destroyed: true,
                    ..Pending::default()
                };
                if account.is_selfdestructed() {
                    continue;
                }
            }
            pending.balance = account.info.balance;
            pending.nonce = account.info.nonce;
            if account.is_created()
                && account.info.code_hash != KECCAK256_EMPTY
                && let Some(code) = &account.info.code
            {
                pending.code = code.original_bytes();
            }
            for (slot, value) in account.changed_storage_slots() {
                pending.storage.insert(*slot, value.present_value);
            }
        }
    }

    /// The merged changes, in address order.
    pub(crate) fn into_changes(self) -> Vec<AccountChange> {
        self.accounts
            .into_iter()
            .map(|(address, p)| AccountChange {
                address,
                balance: p.balance,
                nonce: p.nonce,
                code: p.code,
                storage: p
                    .storage
                    .into_iter()
                    .map(|(slot, value)| StorageChange { slot, value })
                    .collect(),
                destroyed: p.destroyed,
            })
            .collect()
    }
}

/// What the EVM reads: the head state, and the hashes of recent blocks for `BLOCKHASH`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateView<'a> {
    /// The state.
    pub(crate) world: &'a World,
    /// Block hashes by number.
    pub(crate) hashes: &'a [B256],
}

impl DatabaseRef for StateView<'_> {
    type Error = std::convert::Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.world.basic_ref(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        self.world.code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.world.storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.hashes.get(number as usize).copied().unwrap_or_default())
    }
}
