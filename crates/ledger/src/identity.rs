//! Who a patient is and who may read their record, from the chain, with the store checked
//! against it.
//!
//! The store keeps, per patient, their wallet and their on-chain id; an insider can edit both. So
//! every read asks the contract (`getPatient` at the latest block) for the wallet and history of
//! the on-chain patient the store names, and refuses with [`Error::Disagreement`] when the store
//! says otherwise. Whether the reader is that wallet, a doctor, or holds consent or emergency
//! access is asked of the contract too (`isDoctor`, `accessOf`): the mirror never decides.
//!
//! That the store's patient *is* that on-chain patient (and not another one an insider re-pointed
//! it to, wallet and all) is proven entry by entry: content is shown only for entries whose
//! commitment is in that on-chain history (see [`crate::read`]), and an entry sealed for one
//! patient does not open as another's.

use alloy::primitives::{Address, U256};
use medledger_contracts::history::Head;
use medledger_core::access::{self, AccessState, Grounds, Reader};
use medledger_core::entry::PatientId;
use medledger_store::now_ms;
use medledger_store::patients::Patient;

use crate::records::Records;
use crate::{Error, Result};

/// A stored patient, as the chain stands.
#[derive(Debug, Clone)]
pub(crate) enum Standing {
    /// Registered on chain; the store agrees on who they are.
    Confirmed(OnChain),
    /// Stored, with no on-chain id yet (the registration is waiting to be signed or anchored).
    Unconfirmed(Patient),
}

/// A patient registered on chain, with what the contract holds of them.
#[derive(Debug, Clone)]
pub(crate) struct OnChain {
    /// The stored patient.
    pub(crate) stored: Patient,
    /// Their on-chain id.
    pub(crate) chain_id: u64,
    /// Their wallet, as the chain holds it (equal to the store's).
    pub(crate) wallet: Address,
    /// How many entries their on-chain history holds.
    pub(crate) entry_count: u64,
    /// The head of that history.
    pub(crate) head: Head,
}

impl Standing {
    /// The stored patient.
    pub(crate) fn stored(&self) -> &Patient {
        match self {
            Self::Confirmed(on_chain) => &on_chain.stored,
            Self::Unconfirmed(stored) => stored,
        }
    }

    /// The patient's wallet: the chain's once registered there, else the store's.
    pub(crate) fn wallet(&self) -> Address {
        match self {
            Self::Confirmed(on_chain) => on_chain.wallet,
            Self::Unconfirmed(stored) => stored.wallet,
        }
    }

    /// The on-chain id, if registered.
    pub(crate) fn chain_id(&self) -> Option<u64> {
        match self {
            Self::Confirmed(on_chain) => Some(on_chain.chain_id),
            Self::Unconfirmed(_) => None,
        }
    }
}

impl Records {
    /// The stored patient `id`, checked against the chain: [`Error::UnknownPatient`] if the store
    /// has no such patient, [`Error::Disagreement`] if the chain holds another wallet for them, or
    /// no such on-chain patient.
    pub(crate) async fn standing(&self, id: PatientId) -> Result<Standing> {
        let stored = self.patient(id).await?;
        let Some(chain_id) = stored.chain_id else {
            return Ok(Standing::Unconfirmed(stored));
        };
        let held = self
            .ledger()
            .getPatient(U256::from(chain_id))
            .call()
            .await
            .map_err(|e| match e.as_revert_data() {
                Some(_) => Error::Disagreement(format!(
                    "this store links patient {id} to on-chain patient {chain_id}, which the chain does not hold"
                )),
                None => Error::chain(e),
            })?;
        if held.wallet != stored.wallet {
            return Err(Error::Disagreement(format!(
                "this store says the wallet of patient {id} is {}, and the chain says on-chain patient {chain_id}'s \
                 is {}",
                stored.wallet, held.wallet
            )));
        }
        Ok(Standing::Confirmed(OnChain {
            stored,
            chain_id,
            wallet: held.wallet,
            entry_count: held.entryCount,
            head: held.head,
        }))
    }

    /// The stored patient whose wallet is `account`, if the chain agrees that `account` is that
    /// on-chain patient (`patientIdOf`); [`Error::Disagreement`] if it names another.
    pub(crate) async fn patient_of_wallet(&self, account: Address) -> Result<Option<PatientId>> {
        let stored = self.store().patient_by_wallet(account).await?;
        let on_chain: u64 = self
            .ledger()
            .patientIdOf(account)
            .call()
            .await
            .map_err(Error::chain)?
            .saturating_to();
        match stored {
            None if on_chain == 0 => Ok(None),
            // Registered on chain, not (or not yet) here: another hospital's patient, or one whose
            // registration this store has yet to mirror.
            None => match self.store().patient_by_chain_id(on_chain).await? {
                None => Ok(None),
                Some(p) => Err(Error::Disagreement(format!(
                    "the chain says {account} is on-chain patient {on_chain}, and this store gives that patient \
                     ({}) the wallet {}",
                    p.id, p.wallet
                ))),
            },
            Some(p) => match p.chain_id {
                Some(id) if id != on_chain => Err(Error::Disagreement(format!(
                    "this store says {account} is patient {} (on-chain patient {id}), and the chain says {}",
                    p.id,
                    if on_chain == 0 {
                        "it is no patient".to_owned()
                    } else {
                        format!("it is on-chain patient {on_chain}")
                    }
                ))),
                _ => Ok(Some(p.id)),
            },
        }
    }

    /// Decides, from the chain at its latest block, whether `reader` may read the records of the
    /// patient `standing` describes.
    pub(crate) async fn may_read(
        &self,
        reader: Address,
        standing: &Standing,
    ) -> Result<Result<Grounds, String>> {
        if reader == standing.wallet() {
            return Ok(Ok(Grounds::OwnRecords));
        }
        let ledger = self.ledger();
        let is_doctor = ledger.isDoctor(reader).call().await.map_err(Error::chain)?;
        let Some(chain_id) = standing.chain_id() else {
            return Ok(Err(
                "the patient's registration is not confirmed on-chain yet".into()
            ));
        };
        let held = ledger
            .accessOf(U256::from(chain_id), reader)
            .call()
            .await
            .map_err(Error::chain)?;
        let state = AccessState {
            consent_expires_at: held.consentExpiresAt,
            emergency_expires_at: held.emergencyExpiresAt,
        };
        Ok(access::may_read(
            Reader {
                address: reader,
                is_doctor,
            },
            standing.wallet(),
            state,
            now_ms() / 1000,
        )
        .map_err(|r| r.to_string()))
    }

    /// [`Records::standing`] and [`Records::may_read`], auditing a refusal as `action`.
    pub(crate) async fn readable(
        &self,
        reader: Address,
        patient: PatientId,
        action: &str,
    ) -> Result<(Standing, Grounds)> {
        let standing = match self.standing(patient).await {
            Ok(standing) => standing,
            Err(Error::Disagreement(why)) => {
                self.audit(reader, action, Some(patient), None, "failed", &why)
                    .await?;
                return Err(Error::Disagreement(why));
            }
            Err(other) => return Err(other),
        };
        match self.may_read(reader, &standing).await? {
            Ok(grounds) => Ok((standing, grounds)),
            Err(refusal) => {
                self.audit(reader, action, Some(patient), None, "denied", &refusal)
                    .await?;
                Err(Error::Forbidden(refusal))
            }
        }
    }
}
