//! The hospital's background work: the relayer (signed requests to the chain, the audit log's
//! anchors, the sweep of what expired) and the indexer (the chain's events into the mirror), each
//! in its own task.

use std::sync::Arc;
use std::time::Duration;

use medledger_ledger::records::Records;
use medledger_store::shared::Told;
use tokio::sync::watch;

use crate::Hospital;

/// How often the audit log's head is anchored on-chain (and once more at a graceful stop). It
/// bounds what an insider could cut from the log's tail unseen: the records of at most the last
/// minute before they cut (docs/store.md). One anchor is one transaction of about 50,000 gas,
/// sent only when something was logged since the last.
pub const AUDIT_ANCHOR_INTERVAL: Duration = Duration::from_secs(60);

/// How often expired sign-in nonces and sessions are forgotten, and unsigned requests past their
/// deadline are ended.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// How often a server that does not hold a piece of background work tries to take it over: the
/// bound on how long the work stops when its owner dies (docs/store.md).
pub const TAKEOVER_INTERVAL: Duration = Duration::from_secs(1);

impl Hospital {
    /// Runs the relayer and the indexer until `stop` turns true, each in its own task so that
    /// one block's indexing overlaps the next batch's relaying. The relayer passes after every
    /// signed request, every new block of the embedded chain, and at least every 250 ms, and
    /// anchors the audit log's head every [`AUDIT_ANCHOR_INTERVAL`] once an admin has given the
    /// relayer's account the auditor role (its own deployment grants it), and once more when it
    /// stops; the indexer after every new block and every 250 ms.
    ///
    /// On PostgreSQL, several servers may run these: each piece of work runs on the one server
    /// that holds its lease ([`medledger_store::Store::try_lease`]); the others try to take it
    /// over every [`TAKEOVER_INTERVAL`]. What settles is told to every server, for their long
    /// polls.
    pub fn spawn_loops(&self, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relaying = self.spawn_relayer(stop.clone());
        let indexing = self.spawn_indexer(stop.clone());
        let listening = self.spawn_listener(stop);
        tokio::spawn(async move {
            let _ = relaying.await;
            let _ = indexing.await;
            let _ = listening.await;
        })
    }

    fn spawn_relayer(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relayer = self.relayer.clone();
        let mut heads = self.chain.heads();
        let wake = self.wake.clone();
        let mined = self.mined.clone();
        let settled = Settled::new(self);
        let records = self.records.clone();
        tokio::spawn(async move {
            let mut told_no_role = false;
            while let Some(mut lease) = take_over(&records.store().clone(), "relayer", &mut stop).await {
                // Another server may have relayed since this one last did, and may still be
                // storing what it was about to send: that is waited out, and from now on what this
                // one stores is stored only while it holds the lease.
                if let Err(err) = records.store().take_over(&lease).await {
                    tracing::warn!("cannot take the relaying over yet: {err}");
                    tokio::time::sleep(TAKEOVER_INTERVAL).await;
                    continue;
                }
                relayer.take_over(lease.fence()).await;
                let mut last_anchor = tokio::time::Instant::now();
                let mut last_sweep: Option<tokio::time::Instant> = None;
                loop {
                    if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_INTERVAL) {
                        last_sweep = Some(tokio::time::Instant::now());
                        match sweep(&records).await {
                            Ok(ended) if !ended.is_empty() => {
                                tracing::info!(
                                    requests = ended.len(),
                                    "ended unsigned requests past their deadline"
                                );
                                settled.tell(ended).await;
                            }
                            Ok(_) => {}
                            Err(err) => tracing::warn!("sweep: {err}"),
                        }
                    }
                    if last_anchor.elapsed() >= AUDIT_ANCHOR_INTERVAL {
                        last_anchor = tokio::time::Instant::now();
                        match relayer.anchor_audit().await {
                            Ok(Some((sequence, _))) => tracing::info!(sequence, "anchored the audit log"),
                            Ok(None) => {}
                            Err(err) if !told_no_role => {
                                told_no_role = true;
                                tracing::warn!(
                                    "cannot anchor the audit log yet ({err}); an admin must grant the auditor role to {}",
                                    relayer.account()
                                );
                            }
                            Err(_) => {}
                        }
                    }
                    // After sending, the next pass comes soon, to find the transactions mined.
                    let mut pause = Duration::from_millis(250);
                    match relayer.step().await {
                        Ok(step) => {
                            if step.sent + step.resent > 0 {
                                pause = Duration::from_millis(50);
                            }
                            if step.included > 0 {
                                mined.notify_one();
                            }
                            if !step.refused.is_empty() || !step.reoffered.is_empty() {
                                let changed: Vec<i64> =
                                    step.refused.into_iter().chain(step.reoffered).collect();
                                settled.tell(changed).await;
                            }
                        }
                        Err(err) => tracing::warn!("relayer: {err}"),
                    }
                    tokio::select! {
                        changed = stop.changed() => if changed.is_err() { return; },
                        () = next_head(&mut heads) => {}
                        () = wake.notified() => {}
                        () = tokio::time::sleep(pause) => {}
                    }
                    if *stop.borrow() {
                        // The last reads and writes are protected too: the audit log's head is
                        // anchored once more, if the lease still says it is this server's turn.
                        if !lease.held().await {
                            return;
                        }
                        match relayer.anchor_audit().await {
                            Ok(Some((sequence, _))) => tracing::info!(sequence, "anchored the audit log"),
                            Ok(None) => {}
                            Err(err) => tracing::warn!("could not anchor the audit log: {err}"),
                        }
                        return;
                    }
                    if !lease.held().await {
                        tracing::warn!(
                            "lost the relayer's lease (the database connection dropped); trying again"
                        );
                        break;
                    }
                }
            }
        })
    }

    fn spawn_indexer(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let indexer = self.indexer.clone();
        let mut heads = self.chain.heads();
        let settled = Settled::new(self);
        let store = self.store.clone();
        let mined = self.mined.clone();
        tokio::spawn(async move {
            while let Some(mut lease) = take_over(&store, "indexer", &mut stop).await {
                loop {
                    // A range at a time, each told of as soon as it is applied: an error in a
                    // later range (the node, the database) keeps none of the earlier ones from
                    // the long polls waiting on them.
                    loop {
                        match indexer.sync_range().await {
                            Ok(Some(range)) => {
                                if !range.anchored.is_empty() {
                                    settled.tell(range.anchored).await;
                                }
                            }
                            Ok(None) => break,
                            Err(err) => {
                                tracing::warn!("indexer: {err}");
                                break;
                            }
                        }
                    }
                    tokio::select! {
                        changed = stop.changed() => if changed.is_err() { return; },
                        () = next_head(&mut heads) => {}
                        () = mined.notified() => {}
                        () = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                    if *stop.borrow() {
                        return;
                    }
                    if !lease.held().await {
                        tracing::warn!(
                            "lost the indexer's lease (the database connection dropped); trying again"
                        );
                        break;
                    }
                }
            }
        })
    }

    /// On PostgreSQL: what any server tells of settled requests, to this server's long polls.
    fn spawn_listener(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let settled = self.settled.clone();
        let wake = self.wake.clone();
        tokio::spawn(async move {
            if !store.is_shared() {
                return;
            }
            let mut listener = loop {
                match store.listen_settled().await {
                    Ok(Some(listener)) => break listener,
                    Ok(None) => return,
                    Err(err) => tracing::warn!("cannot listen for settled requests yet: {err}"),
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(TAKEOVER_INTERVAL) => {}
                }
            };
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    told = listener.next() => match told {
                        Ok(Told::Settled(ids)) => {
                            let _ = settled.send(ids.into());
                        }
                        Ok(Told::Signed) => wake.notify_one(),
                        Err(err) => {
                            tracing::warn!("listening for settled requests: {err}");
                            tokio::time::sleep(TAKEOVER_INTERVAL).await;
                        }
                    },
                }
                if *stop.borrow() {
                    return;
                }
            }
        })
    }
}

/// Where requests that settled are told: this server's long polls on SQLite; every server's, by
/// way of PostgreSQL, on PostgreSQL.
#[derive(Clone)]
pub(crate) struct Settled {
    store: medledger_store::Store,
    local: tokio::sync::broadcast::Sender<Arc<[i64]>>,
}

impl Settled {
    pub(crate) fn new(hospital: &Hospital) -> Self {
        Self {
            store: hospital.store.clone(),
            local: hospital.settled.clone(),
        }
    }

    pub(crate) async fn tell(&self, ids: Vec<i64>) {
        if !self.store.is_shared() {
            let _ = self.local.send(ids.into());
            return;
        }
        if let Err(err) = self.store.notify_settled(&ids).await {
            tracing::warn!("could not tell other servers of settled requests: {err}");
            let _ = self.local.send(ids.into());
        }
    }
}

/// Waits for the lease on `work`, trying every [`TAKEOVER_INTERVAL`]; `None` once `stop` turns.
async fn take_over(
    store: &medledger_store::Store,
    work: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<medledger_store::shared::Lease> {
    let mut told = false;
    loop {
        if *stop.borrow() {
            return None;
        }
        match store.try_lease(work).await {
            Ok(Some(lease)) => {
                if told {
                    tracing::info!(work, "took the work over");
                }
                return Some(lease);
            }
            Ok(None) if !told => {
                told = true;
                tracing::info!(work, "another server does this work; standing by to take it over");
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(work, "cannot take the lease: {err}"),
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return None; },
            () = tokio::time::sleep(TAKEOVER_INTERVAL) => {}
        }
    }
}

/// Waits for the embedded chain's next block (forever, on an external node: the timers do).
async fn next_head(heads: &mut Option<watch::Receiver<u64>>) {
    match heads.as_mut() {
        Some(heads) => {
            if heads.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Forgets expired sign-in nonces and sessions, and ends the unsigned requests past their
/// deadline (returning their ids and those of the requests re-offered for signature behind them,
/// for anyone waiting on them).
async fn sweep(records: &Arc<Records>) -> std::result::Result<Vec<i64>, medledger_ledger::Error> {
    records.store().sweep_sign_ins(medledger_store::now_ms()).await?;
    let (expired, reoffered) = records.expire_unsigned().await?;
    Ok(expired.into_iter().chain(reoffered).collect())
}
