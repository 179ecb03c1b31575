//! The durable block log: every block, its transactions, receipts and state changes, appended to
//! one file and synced to disk before any of its receipts is visible.
//!
//! A record is `magic (4) | payload length (4, LE) | CRC-32 of payload (4, LE) | payload`, the
//! payload being the RLP of a [`BlockRecord`]. Appends are whole records followed by
//! `fdatasync`, so after a crash the file is a run of complete records, possibly followed by one
//! torn record, which opening cuts off. A bad record anywhere else, or a record whose contents do
//! not match its header's roots, is corruption or tampering and opening refuses it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use alloy::consensus::Header;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

use crate::checkpoint::{self, Prefix};
use crate::{Error, Result};

const MAGIC: [u8; 4] = *b"MLB1";
const FRAME: usize = 12;

/// One account's state after a block, for the accounts the block changed.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct AccountChange {
    /// The account.
    pub address: Address,
    /// Its balance after the block.
    pub balance: U256,
    /// Its nonce after the block.
    pub nonce: u64,
    /// Code deployed to it in this block (empty: unchanged).
    pub code: Bytes,
    /// Storage slots written, with their values after the block.
    pub storage: Vec<StorageChange>,
    /// Whether the account was destroyed (or emptied) first: its old storage is gone.
    pub destroyed: bool,
}

/// One storage slot's value after a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StorageChange {
    /// The slot.
    pub slot: U256,
    /// Its value.
    pub value: U256,
}

/// What a block did besides its receipts: who sent each transaction and which state changed.
/// Its hash, chained to the parent's, is the header's `state_root` (see [`state_commitment`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockEffects {
    /// The recovered sender of each transaction, in order.
    pub senders: Vec<Address>,
    /// The accounts the block changed.
    pub changes: Vec<AccountChange>,
}

/// A block as stored.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockRecord {
    /// The Ethereum header.
    pub header: Header,
    /// The transactions, EIP-2718 encoded.
    pub transactions: Vec<Bytes>,
    /// The receipts, EIP-2718 encoded.
    pub receipts: Vec<Bytes>,
    /// Senders and state changes.
    pub effects: BlockEffects,
}

/// The header's `state_root` on this chain: a hash chain over each block's effects,
/// `keccak256(parent_state_root ‖ keccak256(rlp(effects)))`. It stands in for a state trie root,
/// which would cost a trie update per block; it still commits every block to all state changes
/// before it, so an edited change or sender no longer matches its header.
pub fn state_commitment(parent: B256, effects: &BlockEffects) -> B256 {
    chain_state_commitment(parent, keccak256(alloy_rlp::encode(effects)))
}

/// [`state_commitment`] from the hash of the block's effects.
pub(crate) fn chain_state_commitment(parent: B256, effects_hash: B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(parent.as_slice());
    buf[32..].copy_from_slice(effects_hash.as_slice());
    keccak256(buf)
}

/// Where a block's record is in the log.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    /// Byte offset of the payload.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
}

/// The append-only log.
#[derive(Debug)]
pub struct BlockLog {
    path: PathBuf,
    file: File,
    end: u64,
    /// The running hash of every record, for checkpoints.
    prefix: Prefix,
    /// The log's length at the last checkpoint written.
    checkpointed: u64,
}

/// Whether a record is in the log's verified checkpoint (see [`crate::checkpoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// In the checkpointed prefix, which passed every check before: its bytes are checked by the
    /// prefix's hash.
    Checkpointed,
    /// After it: check it in full.
    Unchecked,
}

impl BlockLog {
    /// Opens (or creates) the log at `path`. Every complete record's payload is passed to
    /// `prepare` (on several threads at once, for a long log) with its location and whether its
    /// checkpoint covers it, and what `prepare` returns is passed to `each` in log order. A torn
    /// last record is cut off; any other bad record, a checkpointed prefix that no longer hashes
    /// to its checkpoint, or the first error of `prepare` or `each`, is an error.
    pub fn open<T: Send>(
        path: &Path,
        prepare: impl Fn(&[u8], Location, Coverage) -> Result<T> + Sync,
        mut each: impl FnMut(T) -> Result<()>,
    ) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        // One writer per log: a second process appending would interleave records.
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => Error::DataDir(format!(
                "{} is in use by another MedLedger process: stop it or choose another data directory",
                path.display()
            )),
            std::fs::TryLockError::Error(e) => Error::Io(e),
        })?;
        let size = file.metadata()?.len();
        let checkpoint = checkpoint::load(path).filter(|c| c.log_bytes > 0);
        let covered = checkpoint.map_or(0, |c| c.log_bytes);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        // The reader cuts the log into chunks of whole frames and deals them to the workers in
        // turn; taking the workers' results in the same turn keeps them in log order.
        let end = std::thread::scope(|scope| -> Result<Scan> {
            let mut jobs = Vec::with_capacity(workers);
            let mut results = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
                let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Vec<Result<T>>>(2);
                let prepare = &prepare;
                scope.spawn(move || {
                    for chunk in job_rx {
                        let prepared = chunk
                            .frames
                            .iter()
                            .map(|&(at, location)| {
                                let coverage = if location.offset + u64::from(location.len) <= covered {
                                    Coverage::Checkpointed
                                } else {
                                    Coverage::Unchecked
                                };
                                prepare(&chunk.bytes[at..at + location.len as usize], location, coverage)
                            })
                            .collect();
                        if done_tx.send(prepared).is_err() {
                            break;
                        }
                    }
                });
                jobs.push(job_tx);
                results.push(done_rx);
            }
            let file = &file;
            let reader = scope.spawn(move || scan(file, size, path, covered, &jobs));
            let mut outcome = Ok(());
            'chunks: for turn in 0.. {
                let Ok(prepared) = results[turn % workers].recv() else {
                    break;
                };
                for prepared in prepared {
                    if let Err(e) = prepared.and_then(&mut each) {
                        outcome = Err(e);
                        break 'chunks;
                    }
                }
            }
            // Dropping the results stops the workers, which stops the reader.
            drop(results);
            let scanned = reader
                .join()
                .map_err(|_| Error::Internal("the block log reader panicked".into()))?;
            outcome?;
            scanned
        })?;
        if let Some(checkpoint) = checkpoint
            && end.at_checkpoint != Some(checkpoint)
        {
            return Err(Error::Corrupt(format!(
                "{} changed after it was verified: its first {} bytes no longer hash to {} (if an \
                 older copy of the log was restored on purpose, delete that file to check every block again)",
                path.display(),
                checkpoint.log_bytes,
                checkpoint::path_of(path).display()
            )));
        }
        if end.torn {
            tracing::warn!(
                offset = end.offset,
                size,
                "cutting off a torn last block record (crash during write)"
            );
            file.set_len(end.offset)?;
            file.sync_all()?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            end: end.offset,
            checkpointed: covered,
            prefix: end.prefix,
        })
    }

    /// Records that the whole log has passed every check (see [`crate::checkpoint`]).
    pub fn save_checkpoint(&mut self) -> Result<()> {
        checkpoint::save(&self.path, &self.prefix.checkpoint())?;
        self.checkpointed = self.prefix.len();
        Ok(())
    }

    /// Appends `record` and syncs it to disk; returns where it is.
    pub fn append(&mut self, record: &BlockRecord) -> Result<Location> {
        let frame = frame(record);
        self.file.write_all(&frame)?;
        self.file.sync_data()?;
        let location = Location {
            offset: self.end + FRAME as u64,
            len: (frame.len() - FRAME) as u32,
        };
        self.end += frame.len() as u64;
        // Blocks appended were built by this node: they pass its checks by construction.
        self.prefix.update(&frame);
        if self.prefix.len() - self.checkpointed >= checkpoint::EVERY
            && let Err(e) = self.save_checkpoint()
        {
            tracing::warn!(error = %e, "cannot write the chain's checkpoint");
        }
        Ok(location)
    }

    /// Reads the record at `location`.
    pub fn read(&self, location: Location) -> Result<BlockRecord> {
        let mut payload = vec![0u8; location.len as usize];
        self.file.read_exact_at(&mut payload, location.offset)?;
        decode_record(&payload, location)
    }

    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.end
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `record` framed for the log.
fn frame(record: &BlockRecord) -> Vec<u8> {
    let payload = alloy_rlp::encode(record);
    let mut frame = Vec::with_capacity(FRAME + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    frame
}

/// Where reading the log stopped: at `offset`, the end of its last complete record, and whether
/// a torn record follows; the hash of the records read, and what it was at the checkpoint's
/// length if the records reached exactly that far.
struct Scan {
    offset: u64,
    torn: bool,
    prefix: Prefix,
    at_checkpoint: Option<checkpoint::Checkpoint>,
}

/// Whole frames read from the log: their bytes, and where each payload is in them and in the log.
struct Chunk {
    bytes: Vec<u8>,
    frames: Vec<(usize, Location)>,
}

/// Bytes read from the log at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// Reads the log from the start a chunk at a time, checks each frame's magic and checksum, and
/// deals the chunks' whole frames to `workers` in turn (a frame cut by a chunk's end goes with the
/// next chunk). Stops early, without error, if the workers are gone.
fn scan(
    file: &File,
    size: u64,
    path: &Path,
    covered: u64,
    workers: &[std::sync::mpsc::SyncSender<Chunk>],
) -> Result<Scan> {
    let mut prefix = Prefix::default();
    let mut at_checkpoint = None;
    let done = |offset, torn, prefix, at_checkpoint| Scan {
        offset,
        torn,
        prefix,
        at_checkpoint,
    };
    // The log offset of `bytes[0]`.
    let mut start = 0u64;
    let mut bytes: Vec<u8> = Vec::new();
    let mut turn = 0;
    loop {
        let end = start + bytes.len() as u64;
        let more = (CHUNK_BYTES as u64).min(size - end) as usize;
        let filled = bytes.len();
        bytes.resize(filled + more, 0);
        file.read_exact_at(&mut bytes[filled..], end)?;
        let mut frames = Vec::new();
        let mut cursor = 0;
        let stop = loop {
            let at = start + cursor as u64;
            let remaining = size - at;
            let available = bytes.len() - cursor;
            if remaining == 0 {
                break Some((at, false));
            }
            if remaining < FRAME as u64 {
                break Some((at, true));
            }
            if available < FRAME {
                break None;
            }
            let head = &bytes[cursor..cursor + FRAME];
            if head[..4] != MAGIC {
                return Err(bad(path, at, "no record starts here"));
            }
            let len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
            if (FRAME + len) as u64 > remaining {
                break Some((at, true));
            }
            if available < FRAME + len {
                break None;
            }
            let payload = &bytes[cursor + FRAME..cursor + FRAME + len];
            if crc32fast::hash(payload) != crc {
                // A record that fits in the file yet fails its checksum is torn only if it is the
                // last.
                if (FRAME + len) as u64 == remaining {
                    break Some((at, true));
                }
                return Err(bad(path, at, "checksum"));
            }
            prefix.update(&bytes[cursor..cursor + FRAME + len]);
            if prefix.len() == covered {
                at_checkpoint = Some(prefix.checkpoint());
            }
            frames.push((
                cursor + FRAME,
                Location {
                    offset: at + FRAME as u64,
                    len: len as u32,
                },
            ));
            cursor += FRAME + len;
        };
        if !frames.is_empty() {
            let rest = bytes.split_off(cursor);
            let chunk = Chunk {
                bytes: std::mem::replace(&mut bytes, rest),
                frames,
            };
            start += cursor as u64;
            let sent = workers[turn % workers.len()].send(chunk).is_ok();
            turn += 1;
            if !sent {
                return Ok(done(start, false, prefix, at_checkpoint));
            }
        }
        if let Some((offset, torn)) = stop {
            return Ok(done(offset, torn, prefix, at_checkpoint));
        }
    }
}

fn bad(path: &Path, offset: u64, why: &str) -> Error {
    Error::Corrupt(format!("{} at byte {offset}: {why}", path.display()))
}

/// A stored block read in place, for checking: its header and effects decoded, its transactions
/// and receipts left as the encoded bytes they are stored as.
#[derive(Debug)]
pub struct RecordView<'a> {
    /// The Ethereum header.
    pub header: Header,
    /// The transactions, EIP-2718 encoded.
    pub transactions: Vec<&'a [u8]>,
    /// The receipts, EIP-2718 encoded.
    pub receipts: Vec<&'a [u8]>,
    /// Senders and state changes.
    pub effects: BlockEffects,
}

impl<'a> RecordView<'a> {
    /// Reads the payload of the record at `location` (the same RLP as [`BlockRecord`]).
    pub fn decode(payload: &'a [u8], location: Location) -> Result<Self> {
        let undecodable = |e: alloy_rlp::Error| {
            Error::Corrupt(format!(
                "undecodable block record at byte {}: {e}",
                location.offset - FRAME as u64
            ))
        };
        let mut buf = payload;
        let mut fields = alloy_rlp::Header::decode_bytes(&mut buf, true).map_err(undecodable)?;
        if !buf.is_empty() {
            return Err(undecodable(alloy_rlp::Error::UnexpectedLength));
        }
        let header = Header::decode(&mut fields).map_err(undecodable)?;
        let transactions = byte_strings(&mut fields).map_err(undecodable)?;
        let receipts = byte_strings(&mut fields).map_err(undecodable)?;
        let effects = BlockEffects::decode(&mut fields).map_err(undecodable)?;
        if !fields.is_empty() {
            return Err(undecodable(alloy_rlp::Error::ListLengthMismatch {
                expected: payload.len() - fields.len(),
                got: payload.len(),
            }));
        }
        Ok(Self {
            header,
            transactions,
            receipts,
            effects,
        })
    }
}

/// An RLP list of byte strings, each as the slice it is.
fn byte_strings<'a>(buf: &mut &'a [u8]) -> alloy_rlp::Result<Vec<&'a [u8]>> {
    let mut list = alloy_rlp::Header::decode_bytes(buf, true)?;
    let mut items = Vec::new();
    while !list.is_empty() {
        items.push(alloy_rlp::Header::decode_bytes(&mut list, false)?);
    }
    Ok(items)
}

/// Decodes the payload of the record at `location`.
pub fn decode_record(payload: &[u8], location: Location) -> Result<BlockRecord> {
    BlockRecord::decode(&mut &payload[..]).map_err(|e| {
        Error::Corrupt(format!(
            "undecodable block record at byte {}: {e}",
            location.offset - FRAME as u64
        ))
    })
}

/// The RLP length of a record, for sizing.
pub fn encoded_len(record: &BlockRecord) -> usize {
    record.length()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record whose one transaction is `size` bytes.
    fn record(number: u64, size: usize) -> BlockRecord {
        BlockRecord {
            header: Header {
                number,
                ..Header::default()
            },
            transactions: vec![Bytes::from(vec![number as u8; size])],
            receipts: vec![Bytes::from(vec![7u8; 3])],
            effects: BlockEffects::default(),
        }
    }

    /// Writes `count` records of a few kilobytes (and one larger than a chunk) without syncing each
    /// (a test log, not a durable one); returns where each frame starts.
    fn write_log(path: &Path, count: u64) -> Vec<u64> {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for n in 0..count {
            starts.push(bytes.len() as u64);
            let size = if n == count / 2 {
                CHUNK_BYTES * 5 / 2
            } else {
                (n as usize * 37) % 5000
            };
            bytes.extend_from_slice(&frame(&record(n, size)));
        }
        std::fs::write(path, bytes).expect("write the log");
        starts
    }

    fn numbers(path: &Path) -> Result<(Vec<u64>, u64)> {
        let mut seen = Vec::new();
        let log = BlockLog::open(
            path,
            |payload, location, _| {
                let view = RecordView::decode(payload, location)?;
                let owned = decode_record(payload, location)?;
                assert_eq!(view.transactions, vec![&owned.transactions[0][..]]);
                assert_eq!(view.receipts, vec![&owned.receipts[0][..]]);
                assert_eq!(view.header, owned.header);
                Ok(view.header.number)
            },
            |n| {
                seen.push(n);
                Ok(())
            },
        )?;
        Ok((seen, log.size()))
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("medledger-log-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir.join("blocks.log")
    }

    #[test]
    fn a_long_log_is_read_in_order_across_chunks() {
        let path = scratch("order");
        // Several chunks' worth, frames cut by chunk ends, and one frame larger than a chunk.
        let count = 3000;
        write_log(&path, count);
        let size = std::fs::metadata(&path).expect("log").len();
        assert!(size > 4 * CHUNK_BYTES as u64);
        let (seen, end) = numbers(&path).expect("a sound log opens");
        assert_eq!(seen, (0..count).collect::<Vec<_>>());
        assert_eq!(end, size);
        std::fs::remove_dir_all(path.parent().expect("dir")).ok();
    }

    #[test]
    fn a_torn_tail_is_cut_and_a_bad_middle_is_refused() {
        let path = scratch("torn");
        let count = 2000;
        let starts = write_log(&path, count);
        let size = std::fs::metadata(&path).expect("log").len();
        // Cut the last record short: the rest opens and the tail is gone.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(size - 3))
            .expect("tear the tail");
        let (seen, end) = numbers(&path).expect("a torn tail opens");
        assert_eq!(seen.len() as u64, count - 1);
        assert_eq!(end, starts[count as usize - 1]);
        assert_eq!(std::fs::metadata(&path).expect("log").len(), end);
        // Flip a byte in a record far from the end: refused, whatever the workers were doing.
        let mut bytes = std::fs::read(&path).expect("log");
        let middle = starts[1500] as usize + FRAME + 1;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).expect("garble");
        let refused = numbers(&path).expect_err("a garbled middle record is refused");
        assert!(refused.to_string().contains("checksum"), "{refused}");
        std::fs::remove_dir_all(path.parent().expect("dir")).ok();
    }

    #[test]
    fn an_error_from_each_stops_the_open() {
        let path = scratch("stop");
        write_log(&path, 3000);
        let refused = BlockLog::open(
            &path,
            |payload, location, _| Ok(RecordView::decode(payload, location)?.header.number),
            |n| {
                if n == 700 {
                    Err(Error::Corrupt("block 700".into()))
                } else {
                    Ok(())
                }
            },
        )
        .expect_err("the first error is returned");
        assert!(refused.to_string().contains("block 700"));
        std::fs::remove_dir_all(path.parent().expect("dir")).ok();
    }
}
