//! What the chain refuses, and how it says so: each refusal is classified by its JSON-RPC code
//! and a keyword of its message (geth's or anvil's wording), never by the exact text.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, Signature, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::json;

use super::Story;
use crate::util::{BLOCK_GAS_LIMIT, ONE_ETH, RpcError, quantity, refusal_in, sign};

/// Codes a transaction is refused with: geth's -32000 (invalid input) or anvil's -32003
/// (EIP-1474 "transaction rejected").
const REJECTED: &[i64] = &[-32000, -32003];

/// A transfer of `value` wei from nothing to `Address::repeat_byte(0xe8)`, 21,000 gas at 10 gwei.
fn transfer(chain_id: u64, nonce: u64, value: u128) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0xe8)),
        value: U256::from(value),
        ..TxEip1559::default()
    }
}

impl Story<'_> {
    async fn nonce(&self, who: Address) -> anyhow::Result<u64> {
        let nonce = self
            .rpc
            .call("eth_getTransactionCount", json!([who, "pending"]))
            .await?;
        Ok(quantity(&nonce) as u64)
    }

    /// Sends `raw` and records how the refusal is classified: its code is one of `codes` and its
    /// message holds one of `keywords` (case-insensitive).
    async fn refused(
        &mut self,
        case: &str,
        raw: Bytes,
        codes: &[i64],
        keywords: &[&str],
    ) -> anyhow::Result<()> {
        let refusal = self.rpc.refusal("eth_sendRawTransaction", json!([raw])).await;
        let refusal = refusal.map_err(|e| anyhow::anyhow!("{case}: {e:#}"));
        self.classify(case, refusal, codes, keywords);
        Ok(())
    }

    fn classify(&mut self, case: &str, refusal: anyhow::Result<RpcError>, codes: &[i64], keywords: &[&str]) {
        let refusal = match refusal {
            Ok(refusal) => refusal,
            Err(error) => {
                self.seen
                    .expect(false, format!("{case}: no JSON-RPC error: {error:#}"));
                return self.seen.saw(format!("refusal: {case}"), json!("accepted"));
            }
        };
        let message = refusal.message.to_lowercase();
        let keyword = keywords.iter().any(|k| message.contains(k));
        let code = codes.contains(&refusal.code);
        self.seen.expect(
            code,
            format!(
                "{case}: code {} is not one of {codes:?} ({})",
                refusal.code, refusal.message
            ),
        );
        self.seen.expect(
            keyword,
            format!("{case}: {:?} names none of {keywords:?}", refusal.message),
        );
        self.seen.saw(
            format!("refusal: {case}"),
            json!({"code in class": code, "keyword in message": keyword}),
        );
    }
}

/// Every refusal in turn; afterwards no account's nonce has moved.
pub(crate) async fn tell(story: &mut Story<'_>) -> anyhow::Result<()> {
    let chain_id = story.chain.chain_id;
    let stranger = story.cast.stranger.clone();
    let nonce = story.nonce(stranger.address()).await?;

    let spent = sign(&story.cast.admin, transfer(chain_id, 0, 1));
    story
        .refused("nonce too low", spent.raw, REJECTED, &["nonce too low"])
        .await?;

    let broke = PrivateKeySigner::from_bytes(&[0x5a; 32].into())?;
    let unfunded = sign(&broke, transfer(chain_id, 0, 1));
    story
        .refused(
            "an unfunded sender",
            unfunded.raw,
            REJECTED,
            &["insufficient funds"],
        )
        .await?;
    let lavish = sign(&stranger, transfer(chain_id, nonce, 20_000 * ONE_ETH));
    story
        .refused(
            "more than the balance",
            lavish.raw,
            REJECTED,
            &["insufficient funds"],
        )
        .await?;

    let too_much_gas = TxEip1559 {
        gas_limit: BLOCK_GAS_LIMIT + 1,
        ..transfer(chain_id, nonce, 1)
    };
    let gas_words = ["exceeds block gas limit", "gas_limit > env.block.gas_limit"];
    story
        .refused(
            "gas above the block limit",
            sign(&stranger, too_much_gas).raw,
            REJECTED,
            &gas_words,
        )
        .await?;

    let other_chain = sign(&stranger, transfer(chain_id + 1, nonce, 1));
    story
        .refused("another chain id", other_chain.raw, REJECTED, &["chain id"])
        .await?;

    // r = 0 is no signature at all: nobody can be recovered from it.
    let unsigned = transfer(chain_id, nonce, 1).into_signed(Signature::new(U256::ZERO, U256::from(1), false));
    let forged = Bytes::from(TxEnvelope::from(unsigned).encoded_2718());
    let codes = [REJECTED, &[-32602]].concat();
    story
        .refused(
            "a bad signature",
            forged,
            &codes,
            &["signature", "signer", "sender", "decode"],
        )
        .await?;

    let unknown = story.rpc.refusal("eth_notAMethod", json!([])).await;
    story.classify(
        "an unknown method",
        unknown,
        &[-32601],
        &["not found", "does not exist"],
    );

    // JSON-RPC 2.0 answers unparseable JSON with -32700 and a null id; anvil says -32600.
    let answer = story
        .rpc
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId""#)
        .await?;
    let parse_codes: &[i64] = if story.chain.name == "anvil" {
        &[-32700, -32600]
    } else {
        &[-32700]
    };
    let refusal = refusal_in(&answer, &json!(null));
    story.classify("malformed JSON", refusal, parse_codes, &["parse", "invalid"]);

    for (name, who) in [
        ("admin", story.cast.admin.address()),
        ("stranger", stranger.address()),
    ] {
        let after = story
            .rpc
            .call("eth_getTransactionCount", json!([who, "pending"]))
            .await?;
        story
            .seen
            .saw(format!("{name}'s nonce after the refusals"), after);
    }
    let payee = story
        .rpc
        .call("eth_getBalance", json!([Address::repeat_byte(0xe8), "latest"]))
        .await?;
    story.seen.expect(
        quantity(&payee) == 0,
        format!("no refused transfer arrived: the payee holds {payee}"),
    );
    Ok(())
}
