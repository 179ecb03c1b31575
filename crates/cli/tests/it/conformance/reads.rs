//! The story's reads: reverts as the raw error and as alloy decodes them, contract state at
//! several block tags, storage and nonces, and every block with its transactions and receipts.

use alloy::primitives::{B256, Bytes, U256, keccak256};
use alloy::sol_types::{SolCall, SolError};
use medledger_contracts::{MedLedger, MedLedgerForwarder, revert};
use serde_json::{Value, json};

use super::Story;
use super::transcript::{log_view, pick};
use crate::util::quantity;

impl Story<'_> {
    /// Reverts from `eth_call` and `eth_estimateGas`, raw and as alloy decodes them.
    pub(crate) async fn reverts(&mut self) -> anyhow::Result<()> {
        let doctor = self.cast.doctor.address();
        let unknown = MedLedger::updateMedicalHistoryCall {
            patientId: U256::from(2),
            commitment: B256::repeat_byte(1),
            kind: 0,
            supersedes: 0,
        };
        let want = MedLedger::NoAccess {
            doctor,
            patientId: U256::from(2),
        }
        .abi_encode();
        let call =
            json!({"from": doctor, "to": self.deployment.ledger, "input": Bytes::from(unknown.abi_encode())});
        for method in ["eth_call", "eth_estimateGas"] {
            let refusal = self.rpc.refusal(method, json!([call, "latest"])).await?;
            self.seen.expect(
                refusal.code == 3,
                format!("{method} reverts with code 3, not {}", refusal.code),
            );
            let words = refusal.message.starts_with("execution reverted");
            self.seen.expect(
                words,
                format!(
                    "{method}'s message starts \"execution reverted\": {}",
                    refusal.message
                ),
            );
            let data = refusal.data.clone().unwrap_or(Value::Null);
            self.seen.expect(
                data == json!(Bytes::from(want.clone())),
                format!("{method}'s data is NoAccess(doctor, 2): {data}"),
            );
        }

        let ledger = MedLedger::new(self.deployment.ledger, self.provider.clone());
        let error = ledger
            .updateMedicalHistory(U256::from(2), B256::repeat_byte(1), 0, 0)
            .from(doctor)
            .call()
            .await;
        let why = error
            .err()
            .and_then(|e| e.as_revert_data())
            .and_then(|data| revert::describe(&data));
        self.seen.saw("alloy decodes the revert", json!(why));
        let want = format!("doctor {doctor} has no current access to patient 2: ask the patient for consent");
        self.seen.expect(
            why.as_deref() == Some(want.as_str()),
            format!("alloy reads {want:?}, not {why:?}"),
        );

        let stranger = self.cast.stranger.clone();
        let forwarder = MedLedgerForwarder::new(self.deployment.forwarder, self.provider.clone());
        let input = self.relayed(
            &stranger,
            MedLedger::addPatientCall {
                wallet: stranger.address(),
            },
            0,
        );
        let request = MedLedgerForwarder::executeCall::abi_decode(&input)?.request;
        let error = forwarder
            .execute(request)
            .from(self.cast.relayer.address())
            .call()
            .await;
        let why = error
            .err()
            .and_then(|e| e.as_revert_data())
            .and_then(|data| revert::describe(&data));
        self.seen.saw("a stranger's relayed request", json!(why));
        Ok(())
    }

    /// Contract state as `eth_call`, `eth_getStorageAt`, nonces and balances show it.
    pub(crate) async fn state(&mut self) -> anyhow::Result<()> {
        let (ledger, doctor) = (self.deployment.ledger, self.cast.doctor.address());
        let calls: [(&str, Bytes); 4] = [
            (
                "getPatient(1)",
                MedLedger::getPatientCall {
                    patientId: U256::from(1),
                }
                .abi_encode()
                .into(),
            ),
            ("patientCount", MedLedger::patientCountCall {}.abi_encode().into()),
            (
                "isDoctor",
                MedLedger::isDoctorCall { account: doctor }.abi_encode().into(),
            ),
            (
                "hasAccess",
                MedLedger::hasAccessCall {
                    doctor,
                    patientId: U256::from(1),
                }
                .abi_encode()
                .into(),
            ),
        ];
        let latest = quantity(&self.rpc.call("eth_blockNumber", json!([])).await?);
        let tags = [
            json!("latest"),
            json!("pending"),
            json!("earliest"),
            json!(format!("{:#x}", latest - 3)),
        ];
        for (name, input) in calls {
            for tag in &tags {
                let params = json!([{"to": ledger, "input": input}, tag]);
                self.observe(format!("eth_call {name} at {tag}"), "eth_call", params)
                    .await;
            }
        }
        for slot in 0u64..8 {
            let params = json!([ledger, format!("{slot:#x}"), "latest"]);
            self.observe(format!("ledger storage slot {slot}"), "eth_getStorageAt", params)
                .await;
        }
        for (name, who) in [
            ("admin", self.cast.admin.address()),
            ("doctor", doctor),
            ("relayer", self.cast.relayer.address()),
        ] {
            for tag in ["latest", "pending"] {
                let params = json!([who, tag]);
                self.observe(
                    format!("{name}'s nonce ({tag})"),
                    "eth_getTransactionCount",
                    params,
                )
                .await;
            }
        }
        Ok(())
    }

    /// Every block and every transaction in it, as far as fees and time do not enter.
    pub(crate) async fn blocks(&mut self) -> anyhow::Result<()> {
        let latest = quantity(&self.rpc.call("eth_blockNumber", json!([])).await?);
        let mut parent = Value::Null;
        for number in 0..=latest {
            let tag = format!("{number:#x}");
            let block = self.rpc.call("eth_getBlockByNumber", json!([tag, true])).await?;
            self.seen.expect(
                number == 0 || block["parentHash"] == parent,
                format!(
                    "block {number}'s parentHash is block {}'s hash",
                    number.saturating_sub(1)
                ),
            );
            parent = block["hash"].clone();
            let txs = block["transactions"].as_array().cloned().unwrap_or_default();
            let view = json!({"transactions": txs.len(), "block": pick(&block, &["number", "gasUsed", "gasLimit", "logsBloom"])});
            self.seen.saw(format!("block {number}"), view);
            for (index, tx) in txs.iter().enumerate() {
                let receipt = self
                    .rpc
                    .call("eth_getTransactionReceipt", json!([tx["hash"]]))
                    .await?;
                let placed = receipt["blockHash"] == block["hash"]
                    && receipt["transactionIndex"] == json!(format!("{index:#x}"));
                self.seen.expect(
                    placed,
                    format!("the receipt of block {number}'s tx {index} says where it is"),
                );
                let logs: Vec<Value> = receipt["logs"]
                    .as_array()
                    .map(|l| l.iter().map(log_view).collect())
                    .unwrap_or_default();
                let input = keccak256(crate::util::data(&tx["input"]));
                self.seen.saw(format!("block {number} tx {index}"), json!({
                    "tx": pick(tx, &["from", "to", "nonce", "value", "type", "chainId"]),
                    "input keccak": input,
                    "receipt": pick(&receipt, &["status", "gasUsed", "cumulativeGasUsed", "contractAddress", "from", "to", "type", "logsBloom"]),
                    "logs": logs,
                }));
            }
        }
        Ok(())
    }
}
