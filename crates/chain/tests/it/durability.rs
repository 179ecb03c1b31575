//! What survives: a restart keeps every block and hash; a torn last record is cut off; an edited
//! block is refused when the chain opens.

use std::io::Write;

use alloy::primitives::{Address, Bytes, TxKind, U256};
use medledger_chain::store::{self, BlockLog, BlockRecord};
use medledger_chain::{Chain, Error};

use crate::util::{Stopped, TestChain, receipt, signed};

/// A 1-wei transfer from signer 0 to `0x0707…07` with `nonce`.
fn transfer(chain: &TestChain, nonce: u64) -> Bytes {
    signed(
        &chain.signers[0],
        nonce,
        TxKind::Call(Address::repeat_byte(7)),
        1,
        Bytes::new(),
        21_000,
    )
}

/// Sends `n` transfers from signer 0 and waits for them; returns the head block number.
async fn transfers(chain: &TestChain, n: u64) -> u64 {
    let provider = chain.provider(0);
    let mut last = None;
    for nonce in 0..n {
        let raw = transfer(chain, nonce);
        last = Some(chain.chain.submit_raw(&raw).expect("accepted"));
    }
    receipt(&provider, last.expect("at least one"))
        .await
        .block_number
        .expect("mined")
}

fn blocks(log: &std::path::Path) -> Vec<BlockRecord> {
    let mut out = Vec::new();
    BlockLog::open(
        log,
        |payload, location, _| store::decode_record(payload, location),
        |record| {
            out.push(record);
            Ok(())
        },
    )
    .expect("the log reads");
    out
}

/// Rewrites the log with `edit` applied to the records, as someone who knows to delete the
/// verified checkpoint too would: every block is then checked in full on open.
fn rewrite(log: &std::path::Path, edit: impl FnOnce(&mut Vec<BlockRecord>)) {
    let mut records = blocks(log);
    edit(&mut records);
    std::fs::remove_file(log).unwrap();
    std::fs::remove_file(log.with_extension("verified")).unwrap();
    let mut fresh = BlockLog::open(log, |_, _, _| Ok(()), |()| Ok(())).unwrap();
    for record in &records {
        fresh.append(record).unwrap();
    }
}

#[tokio::test]
async fn a_restart_keeps_every_block_and_hash() {
    let chain = TestChain::start("restart");
    let head = transfers(&chain, 25).await;
    let hashes: Vec<_> = chain.chain.read().hashes.clone();
    let balance = chain.chain.read().balance(Address::repeat_byte(7));
    let chain = chain.restart();
    assert_eq!(chain.chain.read().head().header.number, head);
    assert_eq!(chain.chain.read().hashes, hashes, "same blocks, same hashes");
    assert_eq!(chain.chain.read().balance(Address::repeat_byte(7)), balance);
    assert_eq!(balance, U256::from(25u64));
    // And it keeps going from there.
    let raw = transfer(&chain, 25);
    let hash = chain.chain.submit_raw(&raw).unwrap();
    let mined = receipt(&chain.provider(0), hash).await;
    assert!(mined.block_number.unwrap() > head);
}

#[tokio::test]
async fn a_torn_last_record_is_cut_off() {
    let chain = TestChain::start("torn");
    let head = transfers(&chain, 3).await;
    let size = std::fs::metadata(chain.dir.log()).unwrap().len();
    let stopped = chain.stop();
    // A crash in the middle of an append leaves a frame whose payload never fully arrived.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(stopped.dir.log())
        .unwrap();
    file.write_all(b"MLB1\x00\x10\x00\x00\x12\x34\x56\x78partial")
        .unwrap();
    drop(file);
    let chain = stopped
        .reopen()
        .expect("a torn tail does not stop the chain opening");
    assert_eq!(
        chain.chain.read().head().header.number,
        head,
        "every complete block is there"
    );
    assert_eq!(
        std::fs::metadata(chain.dir.log()).unwrap().len(),
        size,
        "the torn tail is gone"
    );
}

fn refused(stopped: Stopped) -> String {
    match stopped.reopen() {
        Err(Error::Corrupt(why)) => why,
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("an edited chain opened"),
    }
}

#[tokio::test]
async fn an_edited_transaction_is_refused() {
    let chain = TestChain::start("tamper-tx");
    transfers(&chain, 3).await;
    let stopped = chain.stop();
    rewrite(&stopped.dir.log(), |records| {
        let raw = &mut records[1].transactions[0];
        let mut bytes = raw.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        *raw = bytes.into();
    });
    let why = refused(stopped);
    assert!(
        why.contains("block 1") && why.contains("transactions root"),
        "{why}"
    );
}

#[tokio::test]
async fn an_edited_state_change_is_refused() {
    let chain = TestChain::start("tamper-state");
    transfers(&chain, 2).await;
    let stopped = chain.stop();
    rewrite(&stopped.dir.log(), |records| {
        let change = &mut records[1].effects.changes[0];
        change.balance += U256::from(1_000_000u64);
    });
    let why = refused(stopped);
    assert!(why.contains("block 1") && why.contains("state root"), "{why}");
}

#[tokio::test]
async fn an_edited_header_breaks_the_link_to_its_child() {
    let chain = TestChain::start("tamper-header");
    let provider = chain.provider(0);
    for nonce in 0..2 {
        let raw = transfer(&chain, nonce);
        let hash = chain.chain.submit_raw(&raw).unwrap();
        receipt(&provider, hash).await;
    }
    assert!(chain.chain.read().head().header.number >= 2, "two blocks");
    drop(provider);
    let stopped = chain.stop();
    rewrite(&stopped.dir.log(), |records| records[1].header.timestamp += 1);
    let why = refused(stopped);
    assert!(why.contains("block 2") && why.contains("parent hash"), "{why}");
}

#[tokio::test]
async fn an_edit_every_block_check_passes_is_caught_by_the_checkpoint() {
    let chain = TestChain::start("tamper-checkpoint");
    transfers(&chain, 2).await;
    let stopped = chain.stop();
    let log = stopped.dir.log();
    let checkpoint = std::fs::read(log.with_extension("verified")).expect("a stopped chain has a checkpoint");
    // The last block's header has no child to break the link to: each block's own checks pass.
    rewrite(&log, |records| {
        records.last_mut().unwrap().header.timestamp += 1;
    });
    std::fs::write(log.with_extension("verified"), checkpoint).unwrap();
    let why = refused(stopped);
    assert!(why.contains("changed after it was verified"), "{why}");
}

#[tokio::test]
async fn a_garbled_record_in_the_middle_is_refused() {
    let chain = TestChain::start("garble");
    transfers(&chain, 3).await;
    let stopped = chain.stop();
    let mut bytes = std::fs::read(stopped.dir.log()).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(stopped.dir.log(), bytes).unwrap();
    let why = refused(stopped);
    assert!(why.contains("checksum"), "{why}");
}

#[test]
fn one_data_directory_serves_one_chain_at_a_time() {
    let chain = TestChain::start("lock");
    let funded: Vec<Address> = chain.signers.iter().map(|s| s.address()).collect();
    match Chain::open(chain.dir.config(&funded)) {
        Err(Error::DataDir(why)) => assert!(why.contains("in use by another MedLedger process"), "{why}"),
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("a second chain opened the same data directory"),
    }
}
