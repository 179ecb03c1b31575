//! Log queries: `eth_getLogs` by address, topics (with wildcards and alternatives) and block
//! range, and installed filters whose `eth_getFilterChanges` hands each new log over once.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::{SolCall, SolEvent};
use medledger_contracts::MedLedger;
use medledger_core::entry::EntryKind;
use serde_json::{Value, json};

use super::Story;
use super::transcript::log_view;
use crate::util::quantity;

/// The topic of `MedicalHistoryUpdated`, one per appended entry.
fn entry_topic() -> B256 {
    MedLedger::MedicalHistoryUpdated::SIGNATURE_HASH
}

/// An address as an indexed topic.
fn topic_of(address: Address) -> B256 {
    address.into_word()
}

impl Story<'_> {
    /// `eth_getLogs` for `filter`, recorded under `name`; returns the logs.
    async fn logs_for(&mut self, name: &str, filter: Value) -> anyhow::Result<Vec<Value>> {
        let logs = self.rpc.call("eth_getLogs", json!([filter])).await?;
        let logs = logs.as_array().cloned().unwrap_or_default();
        let views: Vec<Value> = logs.iter().map(log_view).collect();
        self.seen.saw(format!("eth_getLogs {name}"), json!(views));
        Ok(logs)
    }
}

/// Filters installed before the story's entries, polled after them.
pub(crate) struct Installed {
    ledger: Value,
    entries: Value,
    since: u64,
}

impl Installed {
    pub(crate) async fn new(story: &mut Story<'_>) -> anyhow::Result<Self> {
        let ledger = json!({"address": story.deployment.ledger});
        let ledger = story.rpc.call("eth_newFilter", json!([ledger])).await?;
        let entries = json!({"topics": [entry_topic()]});
        let entries = story.rpc.call("eth_newFilter", json!([entries])).await?;
        story.seen.expect(
            ledger.is_string() && entries.is_string(),
            format!("filter ids are strings: {ledger}, {entries}"),
        );
        let since = quantity(&story.rpc.call("eth_blockNumber", json!([])).await?) as u64;
        Ok(Self {
            ledger,
            entries,
            since,
        })
    }

    async fn poll(&self, story: &mut Story<'_>, id: &Value, name: &str) -> anyhow::Result<Vec<Value>> {
        let logs = story.rpc.call("eth_getFilterChanges", json!([id])).await?;
        let logs = logs.as_array().cloned().unwrap_or_default();
        story.seen.saw(
            format!("eth_getFilterChanges {name}"),
            json!(logs.iter().map(log_view).collect::<Vec<_>>()),
        );
        Ok(logs)
    }

    /// Polls until `count` logs have arrived in all, for at most two seconds: anvil applies a new
    /// block to its filters on a task of its own, so a poll right after a receipt may come first.
    async fn poll_for(
        &self,
        story: &mut Story<'_>,
        id: &Value,
        name: &str,
        count: usize,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut seen = Vec::new();
        loop {
            let logs = story.rpc.call("eth_getFilterChanges", json!([id])).await?;
            seen.extend(logs.as_array().cloned().unwrap_or_default());
            if seen.len() >= count || std::time::Instant::now() >= deadline {
                story.seen.saw(
                    format!("eth_getFilterChanges {name}"),
                    json!(seen.iter().map(log_view).collect::<Vec<_>>()),
                );
                return Ok(seen);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The first poll returns every log since installation, the second none, and after one more
    /// entry exactly its log; an uninstalled filter is gone.
    pub(crate) async fn changes(self, story: &mut Story<'_>) -> anyhow::Result<()> {
        let since = json!({"address": story.deployment.ledger, "fromBlock": format!("{:#x}", self.since + 1), "toBlock": "latest"});
        let want = story.rpc.call("eth_getLogs", json!([since])).await?;
        let count = want.as_array().map_or(1, Vec::len);
        let first = self
            .poll_for(story, &self.ledger, "ledger, first poll", count)
            .await?;
        story.seen.expect(
            !first.is_empty() && json!(first) == want,
            "the first poll returns the ledger's logs since the filter was installed",
        );
        let entries = self
            .poll_for(story, &self.entries, "entries, first poll", 3)
            .await?;
        story.seen.expect(
            entries.len() == 3,
            format!("3 entries so far, not {}", entries.len()),
        );
        let again = self.poll(story, &self.ledger, "ledger, second poll").await?;
        story.seen.expect(
            again.is_empty(),
            format!("a second poll returns nothing new, not {} logs", again.len()),
        );

        let fourth = MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(1),
            commitment: keccak256("salt and entry 4"),
            kind: EntryKind::Allergy as u8,
            supersedes: 0,
        };
        let doctor = story.cast.doctor.address();
        let input = Bytes::from(fourth.abi_encode());
        story
            .send("fourth entry", doctor, story.deployment.ledger, input, U256::ZERO)
            .await?;
        for (id, name) in [(&self.ledger, "ledger"), (&self.entries, "entries")] {
            let new = self
                .poll_for(story, id, &format!("{name}, after the fourth entry"), 1)
                .await?;
            let topic = new.first().map(|log| log["topics"][0].clone());
            story.seen.expect(
                new.len() == 1 && topic == Some(json!(entry_topic())),
                format!("{name}: only the fourth entry's log is new, not {new:?}"),
            );
            let gone = story.rpc.call("eth_uninstallFilter", json!([id])).await?;
            story.seen.expect(
                gone == json!(true),
                format!("uninstalling {name} answers true, not {gone}"),
            );
        }
        let twice = story
            .rpc
            .call("eth_uninstallFilter", json!([self.ledger]))
            .await?;
        story.seen.expect(
            twice == json!(false),
            format!("uninstalling again answers false, not {twice}"),
        );
        let stale = story
            .rpc
            .refusal("eth_getFilterChanges", json!([self.ledger]))
            .await;
        story.seen.expect(
            stale.is_ok(),
            format!("polling an uninstalled filter is an error: {stale:?}"),
        );
        Ok(())
    }
}

/// `eth_getLogs` over the whole story, by address, topics and block range.
pub(crate) async fn logs(story: &mut Story<'_>) -> anyhow::Result<()> {
    let (ledger, forwarder) = (story.deployment.ledger, story.deployment.forwarder);
    let doctor = topic_of(story.cast.doctor.address());
    let patient_1 = B256::from(U256::from(1));
    let all = "0x0";

    let by_ledger = story
        .logs_for("ledger", json!({"address": ledger, "fromBlock": all}))
        .await?;
    let by_forwarder = story
        .logs_for("forwarder", json!({"address": forwarder, "fromBlock": all}))
        .await?;
    story.seen.expect(
        by_forwarder.len() == 2,
        format!("the forwarder logged its 2 requests, not {}", by_forwarder.len()),
    );
    let both = story
        .logs_for(
            "both",
            json!({"address": [ledger, forwarder], "fromBlock": all, "toBlock": "latest"}),
        )
        .await?;
    story.seen.expect(
        both.len() == by_ledger.len() + by_forwarder.len(),
        "an address list is the union",
    );

    let entries = story
        .logs_for("entries", json!({"topics": [entry_topic()], "fromBlock": all}))
        .await?;
    story
        .seen
        .expect(entries.len() == 4, format!("4 entries, not {}", entries.len()));
    let of_one = story
        .logs_for(
            "entries of patient 1",
            json!({"topics": [entry_topic(), patient_1], "fromBlock": all}),
        )
        .await?;
    story
        .seen
        .expect(of_one == entries, "all 4 entries are patient 1's");
    let of_two = json!({"topics": [entry_topic(), B256::from(U256::from(2))], "fromBlock": all});
    let of_two = story.logs_for("entries of patient 2", of_two).await?;
    story.seen.expect(of_two.is_empty(), "patient 2 has no entries");
    let by_doctor = story
        .logs_for(
            "doctor in topic 2",
            json!({"topics": [null, null, doctor], "fromBlock": all}),
        )
        .await?;
    story
        .seen
        .expect(by_doctor.len() >= 4, "a null topic is a wildcard");
    let either = [
        MedLedger::PatientAdded::SIGNATURE_HASH,
        MedLedger::DoctorRegistered::SIGNATURE_HASH,
    ];
    let either = story
        .logs_for(
            "patient added or doctor registered",
            json!({"topics": [either], "fromBlock": all}),
        )
        .await?;
    story
        .seen
        .expect(either.len() == 2, format!("one of each, not {}", either.len()));

    // The relayed entry's block alone, then it and the amendment's.
    let relayed = quantity(&entries[1]["blockNumber"]) as u64;
    let one = json!({"fromBlock": format!("{relayed:#x}"), "toBlock": format!("{relayed:#x}")});
    let one = story.logs_for("the relayed entry's block", one).await?;
    let in_block = one
        .iter()
        .all(|log| log["blockNumber"] == entries[1]["blockNumber"]);
    story.seen.expect(
        in_block && one.contains(&entries[1]),
        "a one-block range holds that block's logs",
    );
    let two = json!({"address": ledger, "topics": [entry_topic()], "fromBlock": format!("{relayed:#x}"), "toBlock": format!("{:#x}", relayed + 1)});
    let two = story.logs_for("entries in two blocks", two).await?;
    story.seen.expect(
        two == entries[1..3],
        format!("the two relayed entries, not {} logs", two.len()),
    );
    Ok(())
}
