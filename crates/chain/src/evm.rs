//! Running the EVM (revm 43 through alloy-evm): the block environment, intrinsic gas, and the
//! read-only executions behind `eth_call` and `eth_estimateGas`.

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2930::AccessList;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{Revert, SolError};
use alloy_evm::rpc::TryIntoTxEnv;
use alloy_evm::{EthEvmFactory, Evm, EvmEnv, EvmFactory};
use revm::context::{BlockEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::context_interface::cfg::gas::calculate_initial_tx_gas;
use revm::context_interface::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction};
use revm::database::CacheDB;
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE;
use revm::primitives::hardfork::SpecId;

use crate::config::{BASE_FEE, BLOCK_GAS_LIMIT};
use crate::state::StateView;
use crate::{Error, Result};

/// The hardfork the chain runs.
pub(crate) const SPEC: SpecId = SpecId::PRAGUE;

/// The environment of a block: number, time, fee recipient, randomness.
pub(crate) fn block_env(
    chain_id: u64,
    number: u64,
    timestamp: u64,
    beneficiary: Address,
    prevrandao: B256,
) -> EvmEnv {
    let mut env = EvmEnv::default();
    env.cfg_env.chain_id = chain_id;
    env.cfg_env.spec = SPEC;
    env.block_env = BlockEnv {
        number: U256::from(number),
        beneficiary,
        timestamp: U256::from(timestamp),
        gas_limit: BLOCK_GAS_LIMIT,
        basefee: BASE_FEE,
        difficulty: U256::ZERO,
        prevrandao: Some(prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
            0,
            BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
        )),
        ..Default::default()
    };
    env
}

/// The least gas `tx` can be given: intrinsic cost, or the EIP-7623 calldata floor if higher.
pub(crate) fn intrinsic_gas(tx: &TxEnvelope) -> u64 {
    let (accounts, slots) = tx.access_list().map(access_list_size).unwrap_or((0, 0));
    let auths = tx.authorization_list().map(|list| list.len() as u64).unwrap_or(0);
    let gas = calculate_initial_tx_gas(SPEC, tx.input(), tx.is_create(), accounts, slots, auths, None);
    (gas.initial_regular_gas + gas.initial_state_gas).max(gas.floor_gas)
}

fn access_list_size(list: &AccessList) -> (u64, u64) {
    (
        list.len() as u64,
        list.iter().map(|item| item.storage_keys.len() as u64).sum(),
    )
}

/// What a read-only execution produced.
pub(crate) type Outcome = ExecutionResult<HaltReason>;

/// Runs `request` against `view` in a block `env`, changing nothing. Nonce checks are off and,
/// when the request names no fee, so is the base fee, as in geth's `eth_call`.
pub(crate) fn call(view: StateView<'_>, mut env: EvmEnv, request: TransactionRequest) -> Result<Outcome> {
    env.cfg_env.disable_nonce_check = true;
    env.cfg_env.disable_eip3607 = true;
    let no_fees = request.gas_price.is_none()
        && request.max_fee_per_gas.is_none()
        && request.max_priority_fee_per_gas.is_none();
    env.cfg_env.disable_base_fee = no_fees;
    if let Some(gas) = request.gas
        && gas > BLOCK_GAS_LIMIT
    {
        return Err(Error::InvalidParams(format!(
            "gas {gas} exceeds the block gas limit {BLOCK_GAS_LIMIT}"
        )));
    }
    let tx: TxEnv = request
        .try_into_tx_env(&env)
        .map_err(|e| Error::InvalidParams(e.to_string()))?;
    run(view, env, tx)
}

fn run(view: StateView<'_>, env: EvmEnv, tx: TxEnv) -> Result<Outcome> {
    let mut db = CacheDB::new(view);
    let mut evm = EthEvmFactory::default().create_evm(&mut db, env);
    match evm.transact(tx) {
        Ok(result) => Ok(result.result),
        Err(EVMError::Transaction(invalid)) => Err(Error::Rejected(invalid_message(&invalid))),
        Err(other) => Err(Error::Internal(other.to_string())),
    }
}

/// A transaction the EVM refuses to run, in the words geth uses (clients match on them).
pub(crate) fn invalid_message(invalid: &InvalidTransaction) -> String {
    match invalid {
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => {
            format!("insufficient funds for gas * price + value: have {balance} want {fee}")
        }
        InvalidTransaction::NonceTooLow { tx, state } => {
            format!("nonce too low: next nonce {state}, tx nonce {tx}")
        }
        InvalidTransaction::NonceTooHigh { tx, state } => {
            format!("nonce too high: next nonce {state}, tx nonce {tx}")
        }
        InvalidTransaction::CallerGasLimitMoreThanBlock => "exceeds block gas limit".into(),
        InvalidTransaction::CallGasCostMoreThanGasLimit { .. } => "intrinsic gas too low".into(),
        InvalidTransaction::GasPriceLessThanBasefee => "max fee per gas less than block base fee".into(),
        other => other.to_string(),
    }
}

/// The outcome of a call as a client sees it: output on success, an error otherwise.
pub(crate) fn output(outcome: Outcome) -> Result<Bytes> {
    match outcome {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(reverted(output)),
        ExecutionResult::Halt { reason, .. } => Err(Error::Halted(halt_message(&reason))),
    }
}

/// A revert, with its `Error(string)` reason decoded when there is one.
pub(crate) fn reverted(data: Bytes) -> Error {
    let reason = Revert::abi_decode(&data).ok().map(|revert| revert.reason);
    Error::Reverted { reason, data }
}

fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        other => format!("execution halted: {other:?}"),
    }
}

/// The least gas with which `request` succeeds, found by binary search as geth does. A request
/// that fails even with the most gas it could have returns that failure.
pub(crate) fn estimate(view: StateView<'_>, env: EvmEnv, request: TransactionRequest) -> Result<u64> {
    let cap = request.gas.unwrap_or(BLOCK_GAS_LIMIT).min(BLOCK_GAS_LIMIT);
    let attempt = |gas: u64| {
        let mut request = request.clone();
        request.gas = Some(gas);
        call(view, env.clone(), request)
    };
    let first = attempt(cap)?;
    let used = match first {
        ExecutionResult::Success { .. } => first.tx_gas_used(),
        other => return Err(output(other).expect_err("a failed outcome is an error")),
    };
    // The answer is at least what was used and very often exactly that (a plain transfer: 21,000);
    // otherwise a little more (EIP-150 keeps 1/64 of gas back at each call depth, refunds are
    // paid after the fact): try those before searching, and search to the exact gas.
    if matches!(attempt(used)?, ExecutionResult::Success { .. }) {
        return Ok(used);
    }
    let (mut low, mut high) = (used, cap);
    let guess = (used + 2_300) * 64 / 63;
    if guess < high {
        match attempt(guess)? {
            ExecutionResult::Success { .. } => high = guess,
            _ => low = guess,
        }
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        match attempt(mid) {
            Ok(ExecutionResult::Success { .. }) => high = mid,
            _ => low = mid,
        }
    }
    Ok(high)
}
