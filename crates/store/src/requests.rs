//! The outbox: chain requests signed by their users' wallets, waiting to be relayed.
//!
//! A request moves `awaiting-signature` → `signed` → `submitted` (its transaction, signed by the
//! relayer, stored before it is sent, so a crash resends the same transaction and never a second
//! one) → `included` (mined) → `anchored` (its events confirmed by the indexer); or to `rejected`,
//! with the contract's reason.

use alloy::primitives::{Address, B256};
use sqlx::{Any, Row, Transaction};

use crate::quick::{Cells, Param};
use crate::shared::{Fence, check_fence};
use crate::{Error, Result, Store, address, hash, int, now_ms, uint, values_rows};

/// A request to store.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// What it does (`register-patient`, `record`, `grant-access`, …), for people reading the outbox.
    pub purpose: String,
    /// The user whose wallet signs it.
    pub signer: Address,
    /// The call to MedLedger.
    pub calldata: Vec<u8>,
    /// The gas the forwarded call may use.
    pub gas: u64,
    /// Unix seconds after which the forwarder refuses it.
    pub deadline: u64,
    /// The signer's forwarder nonce it is signed for.
    pub forward_nonce: u64,
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for the user's wallet.
    AwaitingSignature,
    /// Signed, waiting for the relayer.
    Signed,
    /// Sent; its transaction is stored.
    Submitted,
    /// Mined, not yet past the confirmation depth.
    Included,
    /// Its events are confirmed.
    Anchored,
    /// Refused (by the contract, or expired).
    Rejected,
}

impl RequestStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingSignature => "awaiting-signature",
            Self::Signed => "signed",
            Self::Submitted => "submitted",
            Self::Included => "included",
            Self::Anchored => "anchored",
            Self::Rejected => "rejected",
        }
    }

    /// The status of that name.
    pub fn from_name(text: &str) -> Option<Self> {
        Some(match text {
            "awaiting-signature" => Self::AwaitingSignature,
            "signed" => Self::Signed,
            "submitted" => Self::Submitted,
            "included" => Self::Included,
            "anchored" => Self::Anchored,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }

    fn parse(text: &str) -> Result<Self> {
        Self::from_name(text).ok_or(Error::Corrupt("request status"))
    }
}

/// A stored request.
#[derive(Debug, Clone)]
pub struct ChainRequest {
    /// Its id.
    pub id: i64,
    /// What it does.
    pub purpose: String,
    /// Its signer.
    pub signer: Address,
    /// The call to MedLedger.
    pub calldata: Vec<u8>,
    /// Gas for the forwarded call.
    pub gas: u64,
    /// Unix seconds.
    pub deadline: u64,
    /// The forwarder nonce it is signed for.
    pub forward_nonce: u64,
    /// The wallet's EIP-712 signature.
    pub signature: Option<Vec<u8>>,
    /// Where it stands.
    pub status: RequestStatus,
    /// The relayer's transaction nonce, once signed.
    pub tx_nonce: Option<u64>,
    /// The transaction's hash.
    pub tx_hash: Option<B256>,
    /// The signed transaction, to resend after a crash.
    pub raw_tx: Option<Vec<u8>>,
    /// The block it was mined in.
    pub block_number: Option<u64>,
    /// Why it was refused.
    pub reason: Option<String>,
}

const COLUMNS: &str = "id, purpose, signer, calldata, gas, deadline, forward_nonce, signature, status, tx_nonce, \
                       tx_hash, raw_tx, block_number, reason";

fn request(row: &dyn Cells) -> Result<ChainRequest> {
    Ok(ChainRequest {
        id: row.int("id")?,
        purpose: row.text("purpose")?,
        signer: address(&row.bytes("signer")?)?,
        calldata: row.bytes("calldata")?,
        gas: uint(row.int("gas")?),
        deadline: uint(row.int("deadline")?),
        forward_nonce: uint(row.int("forward_nonce")?),
        signature: row.opt_bytes("signature")?,
        status: RequestStatus::parse(&row.text("status")?)?,
        tx_nonce: row.opt_int("tx_nonce")?.map(uint),
        tx_hash: row.opt_bytes("tx_hash")?.map(|h| hash(&h)).transpose()?,
        raw_tx: row.opt_bytes("raw_tx")?,
        block_number: row.opt_int("block_number")?.map(uint),
        reason: row.opt_text("reason")?,
    })
}

pub(crate) async fn insert(tx: &mut Transaction<'static, Any>, r: &NewRequest) -> Result<i64> {
    Ok(insert_many(tx, std::slice::from_ref(r)).await?[0])
}

/// Inserts requests a hundred per statement; returns their ids in the order given. (Within one
/// statement both databases hand out ids in row order, so the returned ids, sorted, are the rows'.)
pub(crate) async fn insert_many(
    tx: &mut Transaction<'static, Any>,
    requests: &[NewRequest],
) -> Result<Vec<i64>> {
    let now = int(now_ms());
    let mut ids = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO chain_requests (purpose, signer, calldata, gas, deadline, forward_nonce, status, created_at, \
             updated_at) VALUES ",
        );
        // The last placeholder (the time) fills both created_at and updated_at.
        sql.push_str(&values_rows(chunk.len(), 7, |p| {
            format!(
                "({}, 'awaiting-signature', {}, {})",
                p[..6].join(", "),
                p[6],
                p[6]
            )
        }));
        sql.push_str(" RETURNING id");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.purpose.clone())
                .bind(r.signer.to_vec())
                .bind(r.calldata.clone())
                .bind(int(r.gas))
                .bind(int(r.deadline))
                .bind(int(r.forward_nonce))
                .bind(now);
        }
        let rows = query.fetch_all(&mut **tx).await?;
        let mut chunk_ids = rows
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Why an unsigned request past its deadline ended.
const EXPIRED: &str = "expired: not signed before its deadline";

/// A refused request's pending entries are refused with it, for the same reason.
async fn reject_entries(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    request: i64,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE entries SET status = 'rejected', reason = $2 WHERE request_id = $1 AND status = 'pending'",
    )
    .bind(request)
    .bind(reason.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The entries of a request its signer never signed (declined, or expired unsigned) end rejected
/// and their sealed content is erased: content its author never signed is not part of anyone's
/// record. (The rows stay, empty, so the author sees what became of the write; the audit log
/// keeps the events.)
async fn erase_unsigned_entries(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    request: i64,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE entries SET status = 'rejected', reason = $2, sealed = $3 WHERE request_id = $1 AND status = 'pending'",
    )
    .bind(request)
    .bind(reason.to_owned())
    .bind(Vec::<u8>::new())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The relayer's transaction for one or more requests, signed and stored before it is sent.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The relayer's transaction nonce.
    pub tx_nonce: u64,
    /// The transaction's hash.
    pub tx_hash: B256,
    /// The signed transaction, as sent (stored once, on its first request).
    pub raw_tx: Vec<u8>,
    /// The requests it forwards, in its order: each one's id and the forwarder nonce it was
    /// signed for (it must not have changed since).
    pub requests: Vec<(i64, u64)>,
}

impl Store {
    /// The request with this id.
    pub async fn request(&self, id: i64) -> Result<Option<ChainRequest>> {
        let sql = format!("SELECT {COLUMNS} FROM chain_requests WHERE id = $1");
        let found = self.quick_rows(&sql, &[Param::Int(id)], request).await?;
        Ok(found.into_iter().next())
    }

    /// Requests in `status`, oldest first, at most `limit`.
    pub async fn requests_in(&self, status: RequestStatus, limit: u32) -> Result<Vec<ChainRequest>> {
        let sql = format!("SELECT {COLUMNS} FROM chain_requests WHERE status = $1 ORDER BY id LIMIT {limit}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| request(row)).collect()
    }

    /// The requests sent and not yet found mined, whole transactions only, in the transactions'
    /// nonce order: at most `limit` rows, less the last transaction's if the limit cut it (a
    /// transaction holds far fewer requests than `limit`).
    pub async fn submitted_transactions(&self, limit: u32) -> Result<Vec<ChainRequest>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM chain_requests WHERE status = 'submitted' ORDER BY tx_nonce, id LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut requests = rows.iter().map(|row| request(row)).collect::<Result<Vec<_>>>()?;
        if requests.len() == limit as usize
            && let Some(last) = requests.last().map(|r| r.tx_nonce)
            && requests.first().map(|r| r.tx_nonce) != Some(last)
        {
            requests.retain(|r| r.tx_nonce != last);
        }
        Ok(requests)
    }

    /// `signer`'s requests in `status`, oldest first, at most `limit`.
    pub async fn requests_of(
        &self,
        signer: Address,
        status: RequestStatus,
        limit: u32,
    ) -> Result<Vec<ChainRequest>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM chain_requests WHERE signer = $1 AND status = $2 ORDER BY id LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(signer.to_vec())
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| request(row)).collect()
    }

    /// The forwarder nonces `signer`'s open requests hold (awaiting a signature, signed, or
    /// submitted): a new request takes the lowest nonce at or above the chain's that none holds.
    ///
    /// A request still awaiting its signature past its deadline holds nothing: the forwarder would
    /// refuse it now, so it must not keep the signer's later requests waiting.
    pub async fn held_nonces(&self, signer: Address) -> Result<Vec<u64>> {
        let now_secs = now_ms() / 1000;
        self.quick_rows(
            "SELECT forward_nonce FROM chain_requests
             WHERE signer = $1 AND status IN ('awaiting-signature', 'signed', 'submitted')
               AND NOT (status = 'awaiting-signature' AND deadline <= $2)",
            &[Param::Bytes(signer.as_slice()), Param::Int(int(now_secs))],
            |row| Ok(uint(row.int("forward_nonce")?)),
        )
        .await
    }

    /// The signer declines a request that awaits their signature: it (and its entries) end
    /// rejected with `reason`, and its forwarder nonce is free again. False if it was not
    /// `signer`'s or not awaiting a signature.
    pub async fn decline_request(&self, id: i64, signer: Address, reason: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE chain_requests SET status = 'rejected', reason = $3, updated_at = $4
             WHERE id = $1 AND signer = $2 AND status = 'awaiting-signature'",
        )
        .bind(id)
        .bind(signer.to_vec())
        .bind(reason.to_owned())
        .bind(int(now_ms()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            erase_unsigned_entries(&mut tx, id, reason).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores several wallets' signatures `(request, signature)` in one transaction; each answer
    /// is false if that request was not awaiting a signature.
    pub async fn sign_many(&self, signed: &[(i64, Vec<u8>)]) -> Result<Vec<bool>> {
        let mut tx = self.writer.begin().await?;
        let now = int(now_ms());
        let mut done = Vec::with_capacity(signed.len());
        for (id, signature) in signed {
            let result = sqlx::query(
                "UPDATE chain_requests SET signature = $2, status = 'signed', updated_at = $3
                 WHERE id = $1 AND status = 'awaiting-signature'",
            )
            .bind(*id)
            .bind(signature.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            done.push(result.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Stores the wallet's signature of a request; false if it was not awaiting one.
    pub async fn sign_request(&self, id: i64, signature: &[u8]) -> Result<bool> {
        let done = self.sign_many(&[(id, signature.to_vec())]).await?;
        Ok(done[0])
    }

    /// Records the relayer's signed transaction for a request, before it is sent.
    pub async fn mark_submitted(&self, id: i64, tx_nonce: u64, tx_hash: B256, raw_tx: &[u8]) -> Result<()> {
        let forward_nonce = self.request(id).await?.map_or(0, |r| r.forward_nonce);
        self.mark_submitted_many(
            &[Submitted {
                tx_nonce,
                tx_hash,
                raw_tx: raw_tx.to_vec(),
                requests: vec![(id, forward_nonce)],
            }],
            &Fence::default(),
        )
        .await
    }

    /// Records the relayer's signed transactions in one database transaction (one sync to disk),
    /// before any of them is sent, if `fence`'s lease is still this server's
    /// ([`Error::LeaseLost`] if not). A transaction's bytes are stored on its first request;
    /// each of its requests gets its nonce and hash. Each request must still be signed for the
    /// forwarder nonce it carries; if one is not (declined or renumbered meanwhile), nothing is
    /// stored and [`Error::RequestChanged`] names it.
    pub async fn mark_submitted_many(&self, batch: &[Submitted], fence: &Fence) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        check_fence(&mut tx, fence).await?;
        let now = int(now_ms());
        for s in batch {
            for (i, (id, forward_nonce)) in s.requests.iter().enumerate() {
                let raw = (i == 0).then(|| s.raw_tx.clone());
                let done = sqlx::query(
                    "UPDATE chain_requests SET status = 'submitted', tx_nonce = $2, tx_hash = $3, raw_tx = $4, updated_at = $5
                     WHERE id = $1 AND status = 'signed' AND forward_nonce = $6",
                )
                .bind(*id)
                .bind(int(s.tx_nonce))
                .bind(s.tx_hash.to_vec())
                .bind(raw)
                .bind(now)
                .bind(int(*forward_nonce))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Err(Error::RequestChanged(*id));
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts requests sent in transaction `tx_hash` back to `signed`, that transaction forgotten,
    /// to go again in a new one: the transaction can never be mined (another took its nonce), or it was mined and
    /// reverted as a whole. Their signatures still hold (their forwarder nonces were not used).
    pub async fn unsubmit(&self, tx_hash: B256, ids: &[i64]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let now = int(now_ms());
        for id in ids {
            // Only while it is still in that transaction (not sent again meanwhile).
            sqlx::query(
                "UPDATE chain_requests SET status = 'signed', tx_nonce = NULL, tx_hash = NULL, raw_tx = NULL, updated_at = $2
                 WHERE id = $1 AND status = 'submitted' AND tx_hash = $3",
            )
            .bind(*id)
            .bind(now)
            .bind(tx_hash.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that a request was found executed in `block_number` (anchored once the mirror
    /// has applied that block: [`Store::anchor_included`]).
    pub async fn mark_included(&self, id: i64, block_number: u64) -> Result<()> {
        self.mark_included_many(&[(id, block_number)]).await
    }

    /// Records several requests `(id, block)` found executed, in one transaction. (It anchors
    /// none itself: the indexer's pass does, and no two transactions then lock the same
    /// requests in different orders.)
    pub async fn mark_included_many(&self, mined: &[(i64, u64)]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let now = int(now_ms());
        for (id, block_number) in mined {
            sqlx::query(
                "UPDATE chain_requests SET status = 'included', block_number = $2, updated_at = $3
                 WHERE id = $1 AND status = 'submitted'",
            )
            .bind(*id)
            .bind(int(*block_number))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends the requests still awaiting a signature at `now_secs`, past their deadline (the
    /// forwarder would refuse them now): each becomes `rejected` ("expired"), with its entries,
    /// whose content is erased. Returns their ids.
    pub async fn expire_unsigned(&self, now_secs: u64) -> Result<Vec<i64>> {
        self.expire_unsigned_where(now_secs, None).await
    }

    /// [`Store::expire_unsigned`] for one signer's requests.
    pub async fn expire_unsigned_of(&self, signer: Address, now_secs: u64) -> Result<Vec<i64>> {
        self.expire_unsigned_where(now_secs, Some(signer)).await
    }

    async fn expire_unsigned_where(&self, now_secs: u64, signer: Option<Address>) -> Result<Vec<i64>> {
        let mut tx = self.writer.begin().await?;
        let sql = match signer {
            None => "SELECT id FROM chain_requests WHERE status = 'awaiting-signature' AND deadline <= $1 ORDER BY id",
            Some(_) => {
                "SELECT id FROM chain_requests WHERE status = 'awaiting-signature' AND deadline <= $1 AND signer = $2
                 ORDER BY id"
            }
        };
        let mut query = sqlx::query(sql).bind(int(now_secs));
        if let Some(signer) = signer {
            query = query.bind(signer.to_vec());
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let ids = rows
            .iter()
            .map(|row| Ok(row.try_get::<i64, _>(0)?))
            .collect::<Result<Vec<_>>>()?;
        for &id in &ids {
            sqlx::query(
                "UPDATE chain_requests SET status = 'rejected', reason = $2, updated_at = $3
                 WHERE id = $1 AND status = 'awaiting-signature'",
            )
            .bind(id)
            .bind(EXPIRED)
            .bind(int(now_ms()))
            .execute(&mut *tx)
            .await?;
            erase_unsigned_entries(&mut tx, id, EXPIRED).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Records that a request was refused, and marks its entries rejected with the same reason.
    pub async fn mark_rejected(&self, id: i64, reason: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE chain_requests SET status = 'rejected', reason = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(reason.to_owned())
        .bind(int(now_ms()))
        .execute(&mut *tx)
        .await?;
        reject_entries(&mut tx, id, reason).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many requests are in each status (for metrics).
    pub async fn request_counts(&self) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM chain_requests GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, uint(r.try_get(1)?))))
            .collect()
    }

    /// The highest transaction nonce any stored request used, for the relayer's nonce manager.
    pub async fn highest_tx_nonce(&self) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT MAX(tx_nonce) FROM chain_requests")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.map(uint))
    }
}

/// Why a request came back for a new signature.
pub const REOFFERED: &str = "re-offered: an earlier request of yours was declined, refused or expired, so this one moved to the forwarder \
     nonce it left free; sign it again";

/// A request whose forwarder nonce is open (not yet used on chain), as renumbering sees it.
struct Queued {
    id: i64,
    nonce: u64,
    status: String,
}

impl Store {
    /// Closes the gaps in `signer`'s forwarder nonces, so that every request of theirs that can
    /// still execute has a nonce the forwarder will reach. The forwarder takes a signer's nonces
    /// one after another; a request declined, refused or expired leaves its nonce unused (a
    /// reverted call reverts its nonce too), and the signer's later requests would wait for it
    /// for ever.
    ///
    /// The requests not yet sent (awaiting a signature before their deadline, or signed), and
    /// those of `reoffer` (sent, but refused by the forwarder because their nonce was not yet
    /// due), keep their order and take consecutive nonces from the first one that is free: the
    /// higher of `chain_nonce` (the forwarder's nonce for `signer` now) and one past every request
    /// of theirs in flight. A request whose nonce changes loses its signature (which covered the
    /// old nonce) and goes back to awaiting one, with `deadline`. Returns those requests' ids.
    pub async fn renumber_nonces(
        &self,
        signer: Address,
        chain_nonce: u64,
        reoffer: &[i64],
        deadline: u64,
    ) -> Result<Vec<i64>> {
        let now_secs = int(now_ms() / 1000);
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "SELECT id, forward_nonce, status, deadline FROM chain_requests
             WHERE signer = $1 AND status IN ('awaiting-signature', 'signed', 'submitted', 'included')
             ORDER BY forward_nonce, id",
        )
        .bind(signer.to_vec())
        .fetch_all(&mut *tx)
        .await?;
        let mut in_flight_next = 0;
        let mut queued = Vec::new();
        for row in &rows {
            let q = Queued {
                id: row.try_get("id")?,
                nonce: uint(row.try_get("forward_nonce")?),
                status: row.try_get("status")?,
            };
            let expired = q.status == "awaiting-signature" && row.try_get::<i64, _>("deadline")? <= now_secs;
            match q.status.as_str() {
                _ if reoffer.contains(&q.id) => queued.push(q),
                "submitted" | "included" => in_flight_next = in_flight_next.max(q.nonce + 1),
                _ if expired => {}
                _ => queued.push(q),
            }
        }
        queued.sort_by_key(|q| (q.nonce, q.id));
        let base = chain_nonce.max(in_flight_next);
        let mut changed = Vec::new();
        for (i, q) in queued.iter().enumerate() {
            let nonce = base + i as u64;
            if nonce == q.nonce && !reoffer.contains(&q.id) {
                continue;
            }
            sqlx::query(
                "UPDATE chain_requests SET forward_nonce = $2, signature = NULL, status = 'awaiting-signature',
                     tx_nonce = NULL, tx_hash = NULL, raw_tx = NULL, block_number = NULL, deadline = $3,
                     reason = $4, updated_at = $5
                 WHERE id = $1",
            )
            .bind(q.id)
            .bind(int(nonce))
            .bind(int(deadline))
            .bind(REOFFERED)
            .bind(int(now_ms()))
            .execute(&mut *tx)
            .await?;
            changed.push(q.id);
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The signers of requests awaiting a signature past their deadline at `now_secs` (what
    /// [`Store::expire_unsigned`] would end).
    pub async fn signers_of_expired(&self, now_secs: u64) -> Result<Vec<Address>> {
        let rows = sqlx::query(
            "SELECT DISTINCT signer FROM chain_requests WHERE status = 'awaiting-signature' AND deadline <= $1",
        )
        .bind(int(now_secs))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| address(&row.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }
}
