//! The relayer: drains the outbox onto the chain.
//!
//! Requests are signed by their users' wallets (EIP-712, for the ERC-2771 forwarder); the relayer
//! pays the gas. One relayer owns one account and hands out its transaction nonces in order from a
//! single counter, so concurrent writes never collide. Each pass puts the requests ready to go
//! into as few transactions as it can (the forwarder's `executeEach`: each request runs or fails on
//! its own, a failure reported with its reason), so a chain that mines one transaction per block
//! still anchors many requests per block. Each transaction is signed and *stored* before it is
//! sent: after a crash, the same transaction (same nonce, same hash) is sent again, so nothing is
//! anchored twice and nothing stored stays unsent. On PostgreSQL the storing checks that this
//! server still holds the relaying's lease ([`Fence`]); a stored transaction whose nonce another
//! one took (a relayer that lost its lease mid-pass, an anchor of the audit log) never mines,
//! and its requests go again in a new one.
//!
//! A signer's requests go to the forwarder in their nonce order only (see [`crate::nonces`]): the
//! first is simulated at the chain's head; the ones after it go in the same step only if their
//! nonces follow on without a gap. A request signed before an earlier one of its signer waits for
//! it. A request the contract refuses leaves its nonce unused, so the signer's later requests are
//! renumbered and offered for signature again, never sent to fail for a nonce.

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use alloy::transports::{RpcError, TransportErrorKind};
use medledger_contracts::ERC2771Forwarder::ForwardRequestData;
use medledger_contracts::MedLedgerForwarder;
use medledger_contracts::forward::ForwardRequest;
use medledger_store::Store;
use medledger_store::requests::{ChainRequest, RequestStatus, Submitted};
use medledger_store::shared::Fence;
use tokio::sync::Mutex;

use crate::nonces::Nonces;
use crate::{Error, Result};

/// Gas the forwarder itself spends around the forwarded call (signature check, nonce, call).
const FORWARDER_OVERHEAD: u64 = 60_000;

/// At most this many requests go in one transaction,
const MOST_PER_TX: usize = 100;
/// with at most this much gas (half a block of anvil's or the embedded chain's),
const MOST_GAS_PER_TX: u64 = 15_000_000;
/// and at most this many bytes of requests (nodes refuse transactions over 128 KiB).
const MOST_BYTES_PER_TX: usize = 96 * 1024;

/// How long the relayer waits for its audit anchor to be mined before going on (it tries again
/// at the next interval).
const AUDIT_RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What one [`Relayer::step`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Requests sent for the first time.
    pub sent: u64,
    /// Stored transactions sent again (after a restart, or not yet seen by the node).
    pub resent: u64,
    /// Requests found mined.
    pub included: u64,
    /// Requests that went back to be sent again in a new transaction (theirs can never be
    /// mined, or reverted as a whole).
    pub requeued: u64,
    /// Requests refused.
    pub rejected: u64,
    /// The requests refused, by id.
    pub refused: Vec<i64>,
    /// The requests offered for signature again with new forwarder nonces (an earlier request of
    /// their signer left its nonce unused), by id.
    pub reoffered: Vec<i64>,
}

/// Drains the outbox with one account.
#[derive(Debug)]
pub struct Relayer {
    provider: DynProvider,
    store: Store,
    wallet: EthereumWallet,
    account: Address,
    forwarder: Address,
    ledger: Address,
    chain_id: u64,
    next_nonce: Mutex<Option<u64>>,
    nonces: Nonces,
    fence: std::sync::Mutex<Fence>,
    confirmations: u64,
}

/// How the node answered a simulated request.
type Simulation = std::result::Result<(), RpcError<TransportErrorKind>>;

/// What a simulation says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Send it.
    Go,
    /// An earlier request of its signer must go first.
    Wait,
    /// The contract refuses it (stored as rejected).
    Refused,
    /// Its nonce was not the forwarder's next one, and it was renumbered for a new signature.
    Reoffered,
}

impl Step {
    fn refuse(&mut self, request: i64) {
        self.rejected += 1;
        self.refused.push(request);
    }
}

impl Relayer {
    /// A relayer paying with `signer`'s account, for the contracts at `forwarder` and `ledger`.
    pub fn new(
        provider: DynProvider,
        store: Store,
        signer: PrivateKeySigner,
        chain_id: u64,
        forwarder: Address,
        ledger: Address,
    ) -> Self {
        let account = signer.address();
        let nonces = Nonces::new(store.clone(), provider.clone(), forwarder);
        Self {
            nonces,
            provider,
            store,
            wallet: EthereumWallet::from(signer),
            account,
            forwarder,
            ledger,
            chain_id,
            next_nonce: Mutex::new(None),
            fence: std::sync::Mutex::new(Fence::default()),
            confirmations: 0,
        }
    }

    /// Acts on a transaction's outcome (executed, refused, never to be mined) only once its block
    /// is `confirmations` deep, the depth the indexer applies blocks at: a shallower
    /// reorganisation could still undo what a receipt at the head says.
    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations;
        self
    }

    /// Shares the signers' nonces with the record flows that hand them out (see
    /// [`crate::records::Records::nonces`]), so that a renumbering never crosses a new write.
    pub fn with_nonces(mut self, nonces: Nonces) -> Self {
        self.nonces = nonces;
        self
    }

    /// The account that pays for relayed requests.
    pub fn account(&self) -> Address {
        self.account
    }

    /// Forgets the account's next transaction nonce, to read it again from the chain and the
    /// store.
    pub async fn forget_nonce(&self) {
        *self.next_nonce.lock().await = None;
    }

    /// Relays under the lease `fence` stands for, from now on: what it stores is stored only while
    /// the lease is held. For a server that has just taken the relaying (from another one, or
    /// again); the account's next nonce is read again.
    pub async fn take_over(&self, fence: Fence) {
        *self
            .fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fence;
        self.forget_nonce().await;
    }

    fn fence(&self) -> Fence {
        self.fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends every signed request, and follows every sent one until it is mined or refused. The
    /// step's store updates are batched: one transaction for what was mined, one for what is
    /// about to be sent (stored before any of it is sent).
    pub async fn step(&self) -> Result<Step> {
        let mut step = Step::default();
        let mut mined = Vec::new();
        // Whole transactions, in nonce order, so that what is sent again goes in order too;
        // within one, in its order (each signer's requests by nonce).
        let mut submitted = self.store.submitted_transactions(1_000).await?;
        submitted.sort_by_key(|r| (r.tx_nonce, r.tx_hash, r.signer, r.forward_nonce));
        let confirmed = match (submitted.is_empty(), self.confirmations) {
            (true, _) | (false, 0) => None,
            (false, depth) => Some(
                self.provider
                    .get_block_number()
                    .await
                    .map_err(Error::chain)?
                    .saturating_sub(depth),
            ),
        };
        for sent in submitted.chunk_by(|a, b| a.tx_hash == b.tx_hash) {
            self.follow(sent, confirmed, &mut mined, &mut step).await?;
        }
        if !mined.is_empty() {
            // In the chain's order, the order the indexer applies their events in: two
            // transactions that lock the same rows in one order cannot deadlock.
            mined.sort_unstable_by_key(|&(_, block, index)| (block, index));
            let mined: Vec<(i64, u64)> = mined.into_iter().map(|(id, block, _)| (id, block)).collect();
            self.store.mark_included_many(&mined).await?;
            step.included += mined.len() as u64;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut signed = Vec::new();
        let mut gaps = std::collections::BTreeSet::new();
        for request in self.store.requests_in(RequestStatus::Signed, 1_000).await? {
            if request.deadline <= now {
                self.store
                    .mark_rejected(
                        request.id,
                        "the signed request expired before it could be relayed",
                    )
                    .await?;
                step.refuse(request.id);
                gaps.insert(request.signer);
            } else {
                signed.push(request);
            }
        }
        for signer in gaps {
            let moved = self.nonces.close_gaps(signer, &[]).await?;
            signed.retain(|r| !moved.contains(&r.id));
            step.reoffered.extend(moved);
        }
        if signed.is_empty() {
            return Ok(step);
        }
        // Each signer's requests in nonce order (the forwarder's order), signers by their oldest.
        signed.sort_by_key(|r| (r.signer, r.forward_nonce));
        let simulated = self.simulate_firsts(&signed).await?;
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(Error::chain)?;
        let mut next = self.next_nonce.lock().await;
        let mut nonce = self.account_nonce(&next).await?;
        let mut go = Vec::new();
        let mut held_back = std::collections::HashSet::new();
        // The forwarder nonce each signer's next request in this batch must carry.
        let mut due: std::collections::HashMap<Address, u64> = std::collections::HashMap::new();
        for (request, simulation) in signed.iter().zip(simulated) {
            if held_back.contains(&request.signer) {
                continue;
            }
            match simulation {
                Some(outcome) => match self.judge(request, outcome, &mut step).await? {
                    Verdict::Go => {}
                    verdict => {
                        // Their later requests come after this one: next step.
                        held_back.insert(request.signer);
                        if verdict == Verdict::Refused {
                            step.refuse(request.id);
                        }
                        continue;
                    }
                },
                // A later request of a signer whose first goes now: only if it follows on.
                None if due.get(&request.signer) != Some(&request.forward_nonce) => {
                    held_back.insert(request.signer);
                    continue;
                }
                None => {}
            }
            due.insert(request.signer, request.forward_nonce + 1);
            go.push(request);
        }
        if go.is_empty() {
            return Ok(step);
        }
        let mut batch = Vec::new();
        for requests in transactions(&go) {
            batch.push(self.sign_transaction(requests, nonce, &fees).await?);
            nonce += 1;
        }
        // Stored before any is sent: after a crash the same bytes go again, never new ones.
        match self.store.mark_submitted_many(&batch, &self.fence()).await {
            Ok(()) => {}
            Err(medledger_store::Error::RequestChanged(id)) => {
                // Declined or renumbered while this batch was prepared: nothing was stored or sent;
                // the next step starts again from the store.
                *next = None;
                tracing::debug!(request = id, "a request changed under the relayer; trying again");
                return Ok(step);
            }
            Err(err) => {
                *next = None;
                return Err(err.into());
            }
        }
        *next = Some(nonce);
        drop(next);
        // One after another, in nonce order: a node's pool may hold a transaction that arrives
        // before the one whose nonce precedes it, and anvil's automine then may never mine it
        // (foundry-rs/foundry#10122); nodes also bound how far ahead of the account a nonce may be.
        for submitted in batch {
            if let Err(err) = self.provider.send_raw_transaction(&submitted.raw_tx).await {
                // Stored, as are the ones after it: the next step sends them again, in order
                // (sending the later ones now would put them ahead of this one).
                tracing::warn!(hash = %submitted.tx_hash, "sending failed, will resend: {err}");
                break;
            }
            step.sent += submitted.requests.len() as u64;
        }
        Ok(step)
    }

    /// Simulates each signer's first signed request, all at once (a request the contract would
    /// refuse is refused before it spends a nonce or gas; one call, not a gas estimate, which
    /// reruns it a dozen times). A signer's later requests are signed for forwarder nonces their
    /// first will move to, so they cannot be simulated yet: `None`.
    async fn simulate_firsts(&self, signed: &[ChainRequest]) -> Result<Vec<Option<Simulation>>> {
        let mut seen = std::collections::HashSet::new();
        let mut calls = tokio::task::JoinSet::new();
        for (i, request) in signed.iter().enumerate() {
            if seen.insert(request.signer) {
                let provider = self.provider.clone();
                let call = self.transaction_of(request);
                calls.spawn(async move { (i, provider.call(call).await.map(|_| ())) });
            }
        }
        let mut outcomes: Vec<_> = signed.iter().map(|_| None).collect();
        while let Some(joined) = calls.join_next().await {
            let (i, outcome) = joined.map_err(|e| Error::Chain(format!("a simulation failed: {e}")))?;
            outcomes[i] = Some(outcome);
        }
        Ok(outcomes)
    }

    /// What a simulation says of a request; a refusal is stored with the contract's reason, and
    /// the signer's later requests are renumbered past it (a refused request uses no nonce).
    async fn judge(&self, request: &ChainRequest, outcome: Simulation, step: &mut Step) -> Result<Verdict> {
        let err = match outcome {
            Ok(()) => return Ok(Verdict::Go),
            // The node is unreachable or broken: not the request's fault; try again later.
            Err(err) if err.as_error_resp().is_none() => return Err(Error::chain(err)),
            Err(err) => err,
        };
        let invalid_signer = err
            .as_error_resp()
            .and_then(|payload| payload.as_revert_data())
            .is_some_and(|data| medledger_contracts::revert::is_invalid_signer(&data));
        if invalid_signer {
            // Its signature was checked against it when posted: the forwarder is at another nonce.
            if self.nonce_yet_to_come(request).await? {
                return Ok(Verdict::Wait);
            }
            // Its nonce will never come (an earlier one was left unused, or used by another
            // request of the same wallet): renumber, and ask for a new signature.
            let moved = self.nonces.close_gaps(request.signer, &[]).await?;
            if !moved.contains(&request.id) {
                tracing::warn!(
                    request = request.id,
                    "the forwarder refused a request's nonce, and renumbering kept it"
                );
            }
            step.reoffered.extend(moved);
            return Ok(Verdict::Reoffered);
        }
        let reason = revert_reason(&err);
        let reason = reason.unwrap_or_else(|| format!("the chain refused the request: {err}"));
        self.store.mark_rejected(request.id, &reason).await?;
        step.reoffered
            .extend(self.nonces.close_gaps(request.signer, &[]).await?);
        Ok(Verdict::Refused)
    }

    /// Whether a request the forwarder refused as signed by someone else was signed for a nonce
    /// still to come: one an earlier request of the same signer has yet to use (held), or the
    /// chain's nonce now, when the simulation ran at a head before that earlier request was mined.
    /// (A signature is checked against its request when it is posted, so a refusal of this kind
    /// means the nonce differed.) The held nonces are read before the chain's, so that a request
    /// mined between the two reads is seen by one of them.
    async fn nonce_yet_to_come(&self, request: &ChainRequest) -> Result<bool> {
        let held = self.store.held_nonces(request.signer).await?;
        if held.iter().any(|n| *n < request.forward_nonce) {
            return Ok(true);
        }
        Ok(self.nonces.on_chain(request.signer).await? == request.forward_nonce)
    }

    /// The relayer's transaction that forwards `request`, unsigned.
    fn transaction_of(&self, request: &ChainRequest) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(self.account)
            .with_to(self.forwarder)
            .with_input(Bytes::from(self.forward_data(request).abi_encode()))
    }

    /// Signs the transaction that forwards `requests` (the forwarder's `executeEach`) with the
    /// relayer's `nonce`. The gas it may use is bounded by what each signer allowed their inner
    /// call plus the forwarder's own work, and the transaction's calldata.
    async fn sign_transaction(
        &self,
        requests: Vec<&ChainRequest>,
        nonce: u64,
        fees: &alloy::eips::eip1559::Eip1559Estimation,
    ) -> Result<Submitted> {
        let call = MedLedgerForwarder::executeEachCall {
            requests: requests.iter().map(|r| self.forward_request(r)).collect(),
        };
        let input = Bytes::from(call.abi_encode());
        let inner: u64 = requests.iter().map(|r| r.gas + FORWARDER_OVERHEAD).sum();
        let gas = inner * 5 / 4 + 21_000 + 16 * input.len() as u64;
        let tx = TransactionRequest::default()
            .with_from(self.account)
            .with_to(self.forwarder)
            .with_input(input)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(tx, &self.wallet)
            .await
            .map_err(Error::chain)?;
        Ok(Submitted {
            tx_nonce: nonce,
            tx_hash: *envelope.tx_hash(),
            raw_tx: envelope.encoded_2718(),
            requests: requests.iter().map(|r| (r.id, r.forward_nonce)).collect(),
        })
    }

    fn forward_request(&self, request: &ChainRequest) -> ForwardRequestData {
        ForwardRequest::new(
            request.signer,
            self.ledger,
            Bytes::from(request.calldata.clone()),
            request.gas,
            U256::from(request.forward_nonce),
            request.deadline,
        )
        .with_signature(Bytes::from(request.signature.clone().unwrap_or_default()))
    }

    fn forward_data(&self, request: &ChainRequest) -> MedLedgerForwarder::executeCall {
        MedLedgerForwarder::executeCall {
            request: self.forward_request(request),
        }
    }

    /// Follows the requests `sent` in one transaction: mined, each one's outcome is recorded;
    /// not yet, it is sent again if the node lost it, or its requests go again in a new one if
    /// another transaction took its nonce.
    /// `confirmed`: the newest block deep enough to act on (`None`: the head).
    async fn follow(
        &self,
        sent: &[ChainRequest],
        confirmed: Option<u64>,
        mined: &mut Vec<(i64, u64, u64)>,
        step: &mut Step,
    ) -> Result<()> {
        let (Some(hash), Some(tx_nonce)) = (sent[0].tx_hash, sent[0].tx_nonce) else {
            return Ok(());
        };
        let deep_enough = |receipt: &alloy::rpc::types::TransactionReceipt| {
            confirmed.is_none_or(|c| receipt.block_number.is_some_and(|b| b <= c))
        };
        if let Some(receipt) = self.receipt(hash).await? {
            if !deep_enough(&receipt) {
                return Ok(()); // mined; acted on once confirmed
            }
            return self.settle(sent, &receipt, mined, step).await;
        }
        if self
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(Error::chain)?
            .is_some()
        {
            return Ok(()); // pending
        }
        // Not mined and not pending. Read in this order, a transaction mined between the two
        // reads shows its receipt: the account's mined nonce past this one's, and still no receipt,
        // means another transaction took the nonce and this one will never be mined.
        let count = self.provider.get_transaction_count(self.account);
        let mined_nonce = match confirmed {
            Some(block) => count.number(block).await,
            None => count.latest().await,
        }
        .map_err(Error::chain)?;
        if mined_nonce > tx_nonce {
            if let Some(receipt) = self.receipt(hash).await? {
                if !deep_enough(&receipt) {
                    return Ok(());
                }
                return self.settle(sent, &receipt, mined, step).await;
            }
            let ids: Vec<i64> = sent.iter().map(|r| r.id).collect();
            tracing::warn!(%hash, tx_nonce, requests = ?ids, "another transaction took this one's nonce; its requests go again");
            self.store.unsubmit(hash, &ids).await?;
            step.requeued += ids.len() as u64;
            // The account's nonce moved on without this relayer: read it again.
            *self.next_nonce.lock().await = None;
            return Ok(());
        }
        // The node never got it, or lost it: the same bytes again.
        match sent.iter().find_map(|r| r.raw_tx.as_ref()) {
            Some(raw) => {
                if let Err(err) = self.provider.send_raw_transaction(raw).await {
                    tracing::warn!(%hash, "resending failed: {err}");
                }
                step.resent += 1;
            }
            None => {
                tracing::warn!(%hash, "a stored transaction has lost its bytes; waiting for its nonce to pass")
            }
        }
        Ok(())
    }

    async fn receipt(
        &self,
        hash: alloy::primitives::B256,
    ) -> Result<Option<alloy::rpc::types::TransactionReceipt>> {
        self.provider
            .get_transaction_receipt(hash)
            .await
            .map_err(Error::chain)
    }

    /// Records what became of each request of a mined transaction, from the forwarder's events:
    /// executed (`ExecutedForwardRequest` for its signer and nonce), or failed with its reason
    /// (`ForwardRequestFailed` for its place in the transaction).
    async fn settle(
        &self,
        sent: &[ChainRequest],
        receipt: &alloy::rpc::types::TransactionReceipt,
        mined: &mut Vec<(i64, u64, u64)>,
        step: &mut Step,
    ) -> Result<()> {
        let block = receipt.block_number.unwrap_or_default();
        let index = receipt.transaction_index.unwrap_or_default();
        if !receipt.status() {
            if let [request] = sent {
                // One request (or a transaction of `execute`, before `executeEach`): its reason.
                return self.refuse_reverted(request, block, step).await;
            }
            // The whole transaction reverted (it ran out of gas): no request ran, none used
            // its nonce; they go again.
            let ids: Vec<i64> = sent.iter().map(|r| r.id).collect();
            tracing::warn!(hash = %receipt.transaction_hash, requests = ?ids, "a relayed transaction reverted as a whole; its requests go again");
            self.store.unsubmit(receipt.transaction_hash, &ids).await?;
            step.requeued += ids.len() as u64;
            return Ok(());
        }
        let mut executed = std::collections::HashSet::new();
        let mut failed = std::collections::HashMap::new();
        for log in receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == self.forwarder)
        {
            if let Ok(event) = log.log_decode::<MedLedgerForwarder::ExecutedForwardRequest>() {
                let event = event.inner.data;
                if event.success {
                    executed.insert((event.signer, event.nonce));
                }
            } else if let Ok(event) = log.log_decode::<MedLedgerForwarder::ForwardRequestFailed>() {
                let event = event.inner.data;
                failed.insert(event.index, event.reason);
            }
        }
        let order = sent
            .iter()
            .find_map(|r| r.raw_tx.as_deref())
            .and_then(requests_of);
        for request in sent {
            if executed.contains(&(request.signer, U256::from(request.forward_nonce))) {
                mined.push((request.id, block, index));
                continue;
            }
            let place = order.as_ref().and_then(|order| {
                order.iter().position(|(from, signature)| {
                    *from == request.signer && request.signature.as_deref() == Some(signature.as_ref())
                })
            });
            let reason = place.and_then(|i| failed.get(&U256::from(i)));
            match reason {
                // Its nonce was not yet due (an earlier request of its signer failed).
                Some(data) if medledger_contracts::revert::is_invalid_signer(data) => {
                    step.reoffered
                        .extend(self.nonces.close_gaps(request.signer, &[request.id]).await?);
                }
                Some(data) => {
                    let reason = medledger_contracts::revert::describe(data).unwrap_or_else(|| {
                        "reverted without a reason (out of gas, or refused by state that changed within its block)"
                            .to_owned()
                    });
                    self.store.mark_rejected(request.id, &reason).await?;
                    step.refuse(request.id);
                    step.reoffered
                        .extend(self.nonces.close_gaps(request.signer, &[]).await?);
                }
                // Neither executed nor reported: replay it for the reason.
                None => self.refuse_reverted(request, block, step).await?,
            }
        }
        Ok(())
    }

    /// A request that did not run in `block`: rejected with the contract's reason, or offered for
    /// signature again if only its nonce was not yet due.
    async fn refuse_reverted(&self, request: &ChainRequest, block: u64, step: &mut Step) -> Result<()> {
        match self.why_reverted(request, block).await {
            // Sent behind a request of its signer that then failed: not its own fault.
            Err(NotDue) => {
                step.reoffered
                    .extend(self.nonces.close_gaps(request.signer, &[request.id]).await?);
            }
            Ok(reason) => {
                self.store.mark_rejected(request.id, &reason).await?;
                step.refuse(request.id);
                step.reoffered
                    .extend(self.nonces.close_gaps(request.signer, &[]).await?);
            }
        }
        Ok(())
    }

    /// Anchors the audit log's current head on-chain from the relayer's own account (which needs
    /// the auditor role). Returns what was anchored, or `None` if nothing new was logged.
    pub async fn anchor_audit(&self) -> Result<Option<(u64, alloy::primitives::B256)>> {
        let Some((sequence, head)) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let ledger = medledger_contracts::MedLedger::new(self.ledger, self.provider.clone());
        let anchored = ledger
            .auditAnchorOf(self.account)
            .call()
            .await
            .map_err(Error::chain)?;
        if anchored.sequence >= sequence {
            return Ok(None);
        }
        let input =
            Bytes::from(medledger_contracts::MedLedger::anchorAuditCall { head, sequence }.abi_encode());
        let call = TransactionRequest::default()
            .with_from(self.account)
            .with_to(self.ledger)
            .with_input(input);
        let gas = self
            .provider
            .estimate_gas(call.clone())
            .await
            .map_err(|e| match revert_reason(&e) {
                Some(reason) => Error::Chain(reason),
                None => Error::chain(e),
            })?;
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(Error::chain)?;
        let mut next = self.next_nonce.lock().await;
        let nonce = self.account_nonce(&next).await?;
        let tx = call
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas * 5 / 4)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(tx, &self.wallet)
            .await
            .map_err(Error::chain)?;
        match self.provider.send_raw_transaction(&envelope.encoded_2718()).await {
            Ok(pending) => {
                *next = Some(nonce + 1);
                drop(next);
                // Bounded: the relayer's loop waits for it, and the other requests with it.
                let receipt = match pending
                    .with_timeout(Some(AUDIT_RECEIPT_TIMEOUT))
                    .get_receipt()
                    .await
                {
                    Ok(receipt) => receipt,
                    Err(err) => {
                        // The node may have dropped it: the account's nonce is read again, so
                        // that no stored transaction waits behind a nonce never used.
                        *self.next_nonce.lock().await = None;
                        return Err(Error::chain(err));
                    }
                };
                self.store
                    .record_audit_anchor(sequence, head, self.account, receipt.transaction_hash)
                    .await?;
                Ok(Some((sequence, head)))
            }
            Err(err) => {
                // Nothing stored depends on this nonce: ask the node again next time.
                *next = None;
                Err(Error::chain(err))
            }
        }
    }

    /// The account's next transaction nonce: the one this relayer counts, or, when it has
    /// none (at start, after an error, or on taking the relaying over from another server),
    /// the higher of the node's pending count and the one after the highest stored (a stored
    /// transaction may not have reached the node yet).
    async fn account_nonce(&self, next: &Option<u64>) -> Result<u64> {
        if let Some(nonce) = next {
            return Ok(*nonce);
        }
        let pending = self
            .provider
            .get_transaction_count(self.account)
            .pending()
            .await
            .map_err(Error::chain)?;
        let stored = self.store.highest_tx_nonce().await?.map_or(0, |n| n + 1);
        Ok(pending.max(stored))
    }

    /// Replays a reverted request on the state before its block, for the contract's reason;
    /// [`NotDue`] if the forwarder refused it for its nonce.
    async fn why_reverted(&self, request: &ChainRequest, block: u64) -> std::result::Result<String, NotDue> {
        let input = Bytes::from(self.forward_data(request).abi_encode());
        let call = TransactionRequest::default()
            .with_from(self.account)
            .with_to(self.forwarder)
            .with_input(input);
        match self
            .provider
            .call(call)
            .block(block.saturating_sub(1).into())
            .await
        {
            Err(err) => {
                let data = err.as_error_resp().and_then(|payload| payload.as_revert_data());
                if data.is_some_and(|data| medledger_contracts::revert::is_invalid_signer(&data)) {
                    return Err(NotDue);
                }
                Ok(revert_reason(&err).unwrap_or_else(|| format!("reverted: {err}")))
            }
            Ok(_) => {
                Ok("reverted (out of gas, or refused by state that changed within its block)".to_owned())
            }
        }
    }
}

/// A request the forwarder refused because its nonce was not the signer's next one.
#[derive(Debug)]
struct NotDue;

/// The contract's reason from a JSON-RPC error carrying revert data, in words.
pub fn revert_reason<E: std::fmt::Display>(err: &alloy::transports::RpcError<E>) -> Option<String> {
    let payload = err.as_error_resp()?;
    let data = payload.as_revert_data()?;
    medledger_contracts::revert::describe(&data)
}

/// The requests (signer, signature) of a stored `executeEach` transaction, in its order; `None`
/// for another kind of transaction.
fn requests_of(raw: &[u8]) -> Option<Vec<(Address, Bytes)>> {
    use alloy::consensus::Transaction as _;
    use alloy::eips::eip2718::Decodable2718;
    let envelope = alloy::consensus::TxEnvelope::decode_2718(&mut &raw[..]).ok()?;
    let call = MedLedgerForwarder::executeEachCall::abi_decode(envelope.input()).ok()?;
    Some(call.requests.into_iter().map(|r| (r.from, r.signature)).collect())
}

/// `go` (in order) grouped into transactions within [`MOST_PER_TX`], [`MOST_GAS_PER_TX`] and
/// [`MOST_BYTES_PER_TX`].
fn transactions<'a>(go: &[&'a ChainRequest]) -> Vec<Vec<&'a ChainRequest>> {
    let mut txs: Vec<Vec<&ChainRequest>> = Vec::new();
    let (mut gas, mut bytes) = (0, 0);
    for &request in go {
        // A request's encoding: its calldata and signature, and a dozen words around them.
        let (g, b) = (request.gas + FORWARDER_OVERHEAD, request.calldata.len() + 512);
        let full = txs.last().is_none_or(|tx| {
            tx.len() >= MOST_PER_TX || gas + g > MOST_GAS_PER_TX || bytes + b > MOST_BYTES_PER_TX
        });
        if full {
            txs.push(Vec::new());
            (gas, bytes) = (0, 0);
        }
        txs.last_mut().expect("just pushed").push(request);
        gas += g;
        bytes += b;
    }
    txs
}
