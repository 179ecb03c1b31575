//! The hospital's background work: the relayer (signed requests to the chain, the audit log's
//! anchors, the sweep of what expired) and the indexer (the chain's events into the mirror), each
//! in its own task.

use std::sync::Arc;
use std::time::Duration;

use medledger_ledger::records::Records;
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

impl Hospital {
    /// Runs the relayer and the indexer until `stop` turns true, each in its own task so that
    /// one block's indexing overlaps the next batch's relaying. The relayer passes after every
    /// signed request, every new block of the embedded chain, and at least every 250 ms, and
    /// anchors the audit log's head every [`AUDIT_ANCHOR_INTERVAL`] once an admin has given the
    /// relayer's account the auditor role (its own deployment grants it); the indexer after every
    /// new block and every 250 ms.
    pub fn spawn_loops(&self, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relaying = self.spawn_relayer(stop.clone());
        let indexing = self.spawn_indexer(stop);
        tokio::spawn(async move {
            let _ = relaying.await;
            let _ = indexing.await;
        })
    }

    fn spawn_relayer(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relayer = self.relayer.clone();
        let mut heads = self.chain.heads();
        let wake = self.wake.clone();
        let settled = self.settled.clone();
        let records = self.records.clone();
        tokio::spawn(async move {
            let mut last_anchor = tokio::time::Instant::now();
            let mut last_sweep: Option<tokio::time::Instant> = None;
            let mut told_no_role = false;
            loop {
                if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_INTERVAL) {
                    last_sweep = Some(tokio::time::Instant::now());
                    match sweep(&records).await {
                        Ok(ended) if !ended.is_empty() => {
                            tracing::info!(
                                requests = ended.len(),
                                "ended unsigned requests past their deadline"
                            );
                            let _ = settled.send(ended.into());
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
                match relayer.step().await {
                    // Nobody waiting is not an error.
                    Ok(step) if !step.refused.is_empty() || !step.reoffered.is_empty() => {
                        let changed: Vec<i64> = step.refused.into_iter().chain(step.reoffered).collect();
                        let _ = settled.send(changed.into());
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!("relayer: {err}"),
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = next_head(&mut heads) => {}
                    () = wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                if *stop.borrow() {
                    return;
                }
            }
        })
    }

    fn spawn_indexer(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let indexer = self.indexer.clone();
        let mut heads = self.chain.heads();
        let settled = self.settled.clone();
        tokio::spawn(async move {
            loop {
                match indexer.sync().await {
                    Ok(progress) if !progress.anchored.is_empty() => {
                        let _ = settled.send(progress.anchored.into());
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!("indexer: {err}"),
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = next_head(&mut heads) => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                if *stop.borrow() {
                    return;
                }
            }
        })
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
