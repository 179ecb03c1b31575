//! The contracts' revert reasons, decoded into sentences that tell the user what to fix.

use alloy::sol_types::{Revert, SolError, SolInterface};

use crate::MedLedger::MedLedgerErrors as E;
use crate::MedLedgerForwarder::MedLedgerForwarderErrors as F;

/// A sentence for the revert `data` returned by MedLedger or its forwarder, or `None` when the
/// data is none of their errors.
pub fn describe(data: &[u8]) -> Option<String> {
    if let Ok(error) = E::abi_decode(data) {
        return Some(describe_ledger(error));
    }
    if let Ok(error) = F::abi_decode(data) {
        return Some(describe_forwarder(error));
    }
    Revert::abi_decode(data).ok().map(|revert| revert.reason)
}

/// Whether revert `data` is the forwarder's "signed by someone else" (`ERC2771ForwarderInvalidSigner`):
/// for a request whose signature was checked when posted, a sign that it was signed for another
/// forwarder nonce than the chain's.
pub fn is_invalid_signer(data: &[u8]) -> bool {
    matches!(F::abi_decode(data), Ok(F::ERC2771ForwarderInvalidSigner(_)))
}

fn describe_ledger(error: E) -> String {
    match error {
        E::ZeroWallet(_) => "the wallet address must not be the zero address".into(),
        E::NotADoctor(e) => format!("{} is not an approved doctor", e.account),
        E::AlreadyADoctor(e) => format!("{} is an approved doctor already", e.account),
        E::SelfApproval(e) => {
            format!(
                "{} cannot approve themselves as a doctor: another admin must",
                e.account
            )
        }
        E::UnknownPatient(e) => format!("there is no patient {}", e.patientId),
        E::AlreadyRegistered(e) => format!("wallet {} is patient {} already", e.wallet, e.patientId),
        E::NotThePatient(e) => {
            format!(
                "only patient {}'s own wallet may do this, not {}",
                e.patientId, e.caller
            )
        }
        E::NoAccess(e) => format!(
            "doctor {} has no current access to patient {}: ask the patient for consent",
            e.doctor, e.patientId
        ),
        E::ExpiryNotInFuture(e) => format!(
            "the access must expire in the future: {} is not after the chain's time {}",
            e.expiresAt, e.nowTs
        ),
        E::NothingToRevoke(e) => {
            format!(
                "doctor {} holds no access to patient {} to revoke",
                e.doctor, e.patientId
            )
        }
        E::EmptyCommitment(_) => "the entry's commitment must not be zero".into(),
        E::UnknownEntryKind(e) => {
            format!("unknown entry kind {}: the contract takes 0 to 63", e.kind)
        }
        E::InvalidSupersedes(e) => format!(
            "an amendment must name an earlier entry (1 to {}), not {}",
            e.entryCount, e.supersedes
        ),
        E::InvalidBatch(e) => format!(
            "a batch holds 1 to {} entries with one kind each; got {} commitments and {} kinds",
            e.max, e.commitments, e.kinds
        ),
        E::InvalidEmergencyDuration(e) => {
            format!(
                "emergency access lasts 1 to {} seconds, not {}",
                e.max, e.duration
            )
        }
        E::EmptyReason(_) => "emergency access needs a stated reason".into(),
        E::NoEmergencyAccess(e) => {
            format!(
                "doctor {} has no open emergency access to patient {}",
                e.doctor, e.patientId
            )
        }
        E::StaleAuditSequence(e) => {
            format!(
                "audit sequence {} is not after the last anchored {}",
                e.sequence, e.last
            )
        }
        E::EmptyAuditHead(_) => "the audit head must not be zero".into(),
        E::AccessControlUnauthorizedAccount(e) => {
            format!(
                "{} lacks the role this needs ({})",
                e.account,
                role_name(e.neededRole.0)
            )
        }
        other => format!("refused by the role rules: {}", error_name(&other)),
    }
}

fn describe_forwarder(error: F) -> String {
    match error {
        F::ERC2771ForwarderInvalidSigner(e) => {
            format!(
                "the request claims to be from {} but was signed by {}",
                e.from, e.signer
            )
        }
        F::ERC2771ForwarderExpiredRequest(e) => {
            format!("the signed request expired at {}: sign it again", e.deadline)
        }
        F::ERC2771UntrustfulTarget(e) => format!("{} does not trust this forwarder", e.target),
        F::ERC2771ForwarderMismatchedValue(e) => {
            format!(
                "the request asks for {} wei but {} was sent",
                e.requestedValue, e.msgValue
            )
        }
        other => format!(
            "the forwarder refused the request: {}",
            forwarder_error_name(&other)
        ),
    }
}

fn role_name(role: [u8; 32]) -> &'static str {
    use alloy::primitives::keccak256;
    if role == [0u8; 32] {
        "default admin"
    } else if role == keccak256("MEDLEDGER_ADMIN").0 {
        "admin"
    } else if role == keccak256("MEDLEDGER_DOCTOR").0 {
        "doctor"
    } else if role == keccak256("MEDLEDGER_AUDITOR").0 {
        "auditor"
    } else {
        "unknown role"
    }
}

fn error_name(error: &E) -> &'static str {
    match error {
        E::AccessControlBadConfirmation(_) => AccessControlBadConfirmation::SIGNATURE,
        E::AccessControlEnforcedDefaultAdminDelay(_) => AccessControlEnforcedDefaultAdminDelay::SIGNATURE,
        E::AccessControlEnforcedDefaultAdminRules(_) => AccessControlEnforcedDefaultAdminRules::SIGNATURE,
        E::AccessControlInvalidDefaultAdmin(_) => AccessControlInvalidDefaultAdmin::SIGNATURE,
        _ => "other",
    }
}

fn forwarder_error_name(_error: &F) -> &'static str {
    "see the forwarder's ABI"
}

use crate::MedLedger::{
    AccessControlBadConfirmation, AccessControlEnforcedDefaultAdminDelay,
    AccessControlEnforcedDefaultAdminRules, AccessControlInvalidDefaultAdmin,
};
