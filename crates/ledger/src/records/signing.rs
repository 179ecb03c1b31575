//! Signatures: what a wallet is asked to sign (EIP-712 typed data); a wallet's signature of a request, checked to be its signer's; a signer's decline;
//! the end of requests left unsigned past their deadline. Each keeps the signer's forwarder nonces
//! without gaps (see [`crate::nonces`]).

use alloy::primitives::{Address, Bytes, U256};
use medledger_contracts::forward::{self, ForwardRequest};

use medledger_store::requests::ChainRequest;
use serde_json::{Value, json};

use super::{PendingWrite, Records, now_secs};
use crate::{Error, Result};

impl Records {
    /// What the signer of a stored `request` signs: the forward request (with the forwarder nonce
    /// it holds now, which a re-offer changes) and its EIP-712 hash.
    pub fn to_sign(&self, request: &ChainRequest) -> PendingWrite {
        let forward = ForwardRequest::new(
            request.signer,
            self.deployment.ledger,
            Bytes::from(request.calldata.clone()),
            request.gas,
            U256::from(request.forward_nonce),
            request.deadline,
        );
        let signing_hash = forward.signing_hash(&forward::domain(
            self.deployment.chain_id,
            self.deployment.forwarder,
        ));
        PendingWrite {
            request_id: request.id,
            request: forward,
            signing_hash,
        }
    }

    /// The EIP-712 typed data of a forward request to this hospital's forwarder, as a wallet's
    /// `eth_signTypedData_v4` takes it.
    pub fn typed_data(&self, request: &ForwardRequest) -> Value {
        json!({
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "ForwardRequest": [
                    {"name": "from", "type": "address"},
                    {"name": "to", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "gas", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint48"},
                    {"name": "data", "type": "bytes"},
                ],
            },
            "primaryType": "ForwardRequest",
            "domain": {
                "name": forward::DOMAIN_NAME,
                "version": forward::DOMAIN_VERSION,
                "chainId": self.deployment.chain_id,
                "verifyingContract": self.deployment.forwarder,
            },
            "message": {
                "from": request.from,
                "to": request.to,
                "value": request.value.to_string(),
                "gas": request.gas.to_string(),
                "nonce": request.nonce.to_string(),
                "deadline": request.deadline.to::<u64>(),
                "data": request.data,
            },
        })
    }

    /// `caller`'s request `id`; [`Error::UnknownRecord`] if there is none of theirs (another's
    /// request is not told apart from none).
    pub async fn request_of(
        &self,
        caller: Address,
        id: i64,
    ) -> Result<medledger_store::requests::ChainRequest> {
        match self.store().request(id).await? {
            Some(request) if request.signer == caller => Ok(request),
            _ => Err(Error::NotFound(format!("no request {id} of yours"))),
        }
    }

    /// `caller`'s requests in `status`, oldest first, at most `limit`.
    pub async fn requests_of(
        &self,
        caller: Address,
        status: medledger_store::requests::RequestStatus,
        limit: u32,
    ) -> Result<Vec<medledger_store::requests::ChainRequest>> {
        Ok(self.store().requests_of(caller, status, limit).await?)
    }

    /// The earliest of its signer's requests still awaiting a signature that a signed request
    /// waits for: the forwarder runs a wallet's requests in nonce order, so a request signed
    /// while an earlier one is not waits until that one is signed or declined (e.g. a write
    /// whose answer was lost on the way to its client, who then wrote again).
    pub async fn waits_for(&self, request: &medledger_store::requests::ChainRequest) -> Result<Option<i64>> {
        use medledger_store::requests::RequestStatus;
        if request.status != RequestStatus::Signed {
            return Ok(None);
        }
        let unsigned = self
            .store()
            .requests_of(request.signer, RequestStatus::AwaitingSignature, 500)
            .await?;
        let earlier: Vec<_> = unsigned
            .iter()
            .filter(|earlier| earlier.forward_nonce < request.forward_nonce)
            .collect();
        if earlier.is_empty() {
            return Ok(None);
        }
        // Only where the chain agrees: a nonce the forwarder has already used holds nothing back
        // (a row an insider added below it, or one left behind, is not named).
        let on_chain = self.nonces.on_chain(request.signer).await?;
        Ok(earlier
            .into_iter()
            .filter(|earlier| earlier.forward_nonce >= on_chain)
            .min_by_key(|earlier| earlier.forward_nonce)
            .map(|earlier| earlier.id))
    }

    /// The signer declines a request awaiting their signature: it ends rejected, its entries too
    /// (their content erased), and their later requests move down to the forwarder nonce it
    /// leaves free (those already signed are offered for signature again).
    /// Returns the requests offered for signature again.
    pub async fn decline(&self, signer: Address, request_id: i64) -> Result<Vec<i64>> {
        let _one_at_a_time = self.nonces.lock(signer).await?;
        if self
            .store
            .decline_request(request_id, signer, "declined: the signer did not sign it")
            .await?
        {
            let reoffered = self.nonces.close_gaps_locked(signer, &[]).await?;
            self.audit(
                signer,
                "decline",
                None,
                None,
                "allowed",
                &format!("request {request_id}"),
            )
            .await?;
            return Ok(reoffered);
        }
        Err(Error::NotAwaitingSignature(request_id))
    }

    /// Ends the requests still awaiting a signature past their deadline (rejected, "expired", their
    /// entries' content erased) and closes the gaps they leave in their signers' nonces. Returns
    /// the requests that ended and those offered for signature again.
    pub async fn expire_unsigned(&self) -> Result<(Vec<i64>, Vec<i64>)> {
        let now = now_secs();
        let signers = self.store.signers_of_expired(now).await?;
        let mut expired = Vec::new();
        let mut reoffered = Vec::new();
        for signer in signers {
            let _one_at_a_time = self.nonces.lock(signer).await?;
            expired.extend(self.store.expire_unsigned_of(signer, now).await?);
            reoffered.extend(self.nonces.close_gaps_locked(signer, &[]).await?);
        }
        Ok((expired, reoffered))
    }

    /// Accepts the wallet's signature of a request, after checking that it is the signer's.
    pub async fn sign(&self, request_id: i64, signature: &[u8]) -> Result<()> {
        let request = self
            .store
            .request(request_id)
            .await?
            .ok_or(Error::NotAwaitingSignature(request_id))?;
        let hash = self.to_sign(&request).signing_hash;
        let parsed = parse_signature(signature)?;
        let actual = parsed
            .recover_address_from_prehash(&hash)
            .unwrap_or(Address::ZERO);
        if actual != request.signer {
            return Err(Error::WrongSigner {
                request: request_id,
                expected: request.signer,
                actual,
            });
        }
        if !self
            .commits
            .signatures
            .run((request_id, signature.to_vec()))
            .await?
        {
            return Err(Error::NotAwaitingSignature(request_id));
        }
        Ok(())
    }
}

/// A wallet's 65-byte signature (r, s, v).
fn parse_signature(bytes: &[u8]) -> Result<alloy::primitives::Signature> {
    alloy::primitives::Signature::try_from(bytes)
        .map_err(|_| Error::InvalidEntry("a signature is 65 bytes (r, s, v)".into()))
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    #[test]
    fn a_signature_is_65_bytes_that_recover_its_signer() {
        let wallet = PrivateKeySigner::random();
        let hash = alloy::primitives::B256::repeat_byte(9);
        let signed = wallet.sign_hash_sync(&hash).unwrap().as_bytes();
        let parsed = parse_signature(&signed).unwrap();
        assert_eq!(
            parsed.recover_address_from_prehash(&hash).unwrap(),
            wallet.address()
        );
        for bad in [&signed[..64], &[0u8; 66][..], &[][..]] {
            assert!(matches!(parse_signature(bad), Err(Error::InvalidEntry(_))));
        }
    }
}
