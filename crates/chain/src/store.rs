//! The durable block log: every block, its transactions, receipts and state changes, appended to
//! one file and synced to disk before any of its receipts is visible.
//!
//! A record is `magic (4) | payload length (4, LE) | CRC-32 of payload (4, LE) | payload`, the
//! payload being the RLP of a [`BlockRecord`]. Appends are whole records followed by
//! `fdatasync`, so after a crash the file is a run of complete records, possibly followed by one
//! torn record, which opening cuts off. A bad record anywhere else, or a record whose contents do
//! not match its header's roots, is corruption or tampering and opening refuses it.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use alloy::consensus::Header;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

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
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(parent.as_slice());
    buf.extend_from_slice(keccak256(alloy_rlp::encode(effects)).as_slice());
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
}

impl BlockLog {
    /// Opens (or creates) the log at `path`, calling `each` with every complete record in order.
    /// A torn last record is cut off; any other bad record is an error.
    pub fn open(path: &Path, mut each: impl FnMut(BlockRecord, Location) -> Result<()>) -> Result<Self> {
        let mut file = OpenOptions::new()
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
        file.seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut offset = 0u64;
        let mut payload = Vec::new();
        while offset < size {
            match read_record(&mut reader, size - offset, &mut payload)? {
                Frame::Complete => {
                    let location = Location {
                        offset: offset + FRAME as u64,
                        len: payload.len() as u32,
                    };
                    let record = decode(&payload, offset)?;
                    each(record, location)?;
                    offset += (FRAME + payload.len()) as u64;
                }
                Frame::Torn => {
                    tracing::warn!(
                        offset,
                        size,
                        "cutting off a torn last block record (crash during write)"
                    );
                    drop(reader);
                    file.set_len(offset)?;
                    file.sync_all()?;
                    break;
                }
                Frame::Bad(why) => {
                    return Err(Error::Corrupt(format!(
                        "{} at byte {offset}: {why}",
                        path.display()
                    )));
                }
            }
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            end: offset,
        })
    }

    /// Appends `record` and syncs it to disk; returns where it is.
    pub fn append(&mut self, record: &BlockRecord) -> Result<Location> {
        let payload = alloy_rlp::encode(record);
        let mut frame = Vec::with_capacity(FRAME + payload.len());
        frame.extend_from_slice(&MAGIC);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        self.file.write_all(&frame)?;
        self.file.sync_data()?;
        let location = Location {
            offset: self.end + FRAME as u64,
            len: payload.len() as u32,
        };
        self.end += frame.len() as u64;
        Ok(location)
    }

    /// Reads the record at `location`.
    pub fn read(&self, location: Location) -> Result<BlockRecord> {
        let mut payload = vec![0u8; location.len as usize];
        self.file.read_exact_at(&mut payload, location.offset)?;
        decode(&payload, location.offset)
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

enum Frame {
    Complete,
    Torn,
    Bad(String),
}

fn read_record(reader: &mut impl Read, remaining: u64, payload: &mut Vec<u8>) -> Result<Frame> {
    if remaining < FRAME as u64 {
        return Ok(Frame::Torn);
    }
    let mut frame = [0u8; FRAME];
    reader.read_exact(&mut frame)?;
    if frame[..4] != MAGIC {
        return Ok(Frame::Bad("no record starts here".into()));
    }
    let len = u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes")) as u64;
    let crc = u32::from_le_bytes(frame[8..12].try_into().expect("4 bytes"));
    if FRAME as u64 + len > remaining {
        return Ok(Frame::Torn);
    }
    payload.resize(len as usize, 0);
    reader.read_exact(payload)?;
    if crc32fast::hash(payload) != crc {
        // A record that fits in the file yet fails its checksum is torn only if it is the last.
        return Ok(if FRAME as u64 + len == remaining {
            Frame::Torn
        } else {
            Frame::Bad("checksum".into())
        });
    }
    Ok(Frame::Complete)
}

fn decode(payload: &[u8], offset: u64) -> Result<BlockRecord> {
    BlockRecord::decode(&mut &payload[..])
        .map_err(|e| Error::Corrupt(format!("undecodable block record at byte {offset}: {e}")))
}

/// The RLP length of a record, for sizing.
pub fn encoded_len(record: &BlockRecord) -> usize {
    record.length()
}
