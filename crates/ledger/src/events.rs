//! The contract's logs, decoded into the store's events.

use alloy::rpc::types::Log;
use alloy::sol_types::SolEventInterface;
use medledger_contracts::MedLedger::MedLedgerEvents;
use medledger_store::mirror::{ChainEvent, LoggedEvent};

/// Decodes one log of the MedLedger contract; events the store does not mirror (OpenZeppelin's
/// role bookkeeping) give nothing. A batch gives one event per entry.
pub fn decode(log: &Log) -> Vec<LoggedEvent> {
    let (Some(block_number), Some(log_index), Some(tx_hash)) =
        (log.block_number, log.log_index, log.transaction_hash)
    else {
        return vec![];
    };
    let Ok(decoded) = MedLedgerEvents::decode_log(&log.inner) else {
        return vec![];
    };
    let at = |i: u64, event| LoggedEvent {
        block_number,
        position: (log_index << 10) | i,
        tx_hash,
        event,
    };
    let id = |v: alloy::primitives::U256| v.saturating_to::<u64>();
    let event = match decoded.data {
        MedLedgerEvents::DoctorRegistered(e) => ChainEvent::DoctorRegistered { doctor: e.doctor },
        MedLedgerEvents::DoctorRevoked(e) => ChainEvent::DoctorRevoked { doctor: e.doctor },
        MedLedgerEvents::PatientAdded(e) => ChainEvent::PatientAdded {
            patient: id(e.patientId),
            wallet: e.wallet,
            registered_by: e.registeredBy,
        },
        MedLedgerEvents::MedicalHistoryUpdated(e) => ChainEvent::HistoryAppended {
            patient: id(e.patientId),
            version: e.version,
            kind: e.kind,
            supersedes: e.supersedes,
            commitment: e.commitment,
            author: e.author,
        },
        MedLedgerEvents::MedicalHistoryBatchUpdated(e) => {
            return e
                .commitments
                .iter()
                .zip(e.kinds.iter())
                .enumerate()
                .map(|(i, (commitment, kind))| {
                    at(
                        i as u64,
                        ChainEvent::HistoryAppended {
                            patient: id(e.patientId),
                            version: e.firstVersion + i as u64,
                            kind: *kind,
                            supersedes: 0,
                            commitment: *commitment,
                            author: e.author,
                        },
                    )
                })
                .collect();
        }
        MedLedgerEvents::AccessGranted(e) => ChainEvent::AccessGranted {
            patient: id(e.patientId),
            doctor: e.doctor,
            expires_at: e.expiresAt,
        },
        MedLedgerEvents::AccessRevoked(e) => ChainEvent::AccessRevoked {
            patient: id(e.patientId),
            doctor: e.doctor,
        },
        MedLedgerEvents::EmergencyAccess(e) => ChainEvent::EmergencyAccess {
            patient: id(e.patientId),
            doctor: e.doctor,
            expires_at: e.expiresAt,
        },
        MedLedgerEvents::EmergencyAccessClosed(e) => ChainEvent::EmergencyAccessClosed {
            patient: id(e.patientId),
            doctor: e.doctor,
        },
        MedLedgerEvents::AuditAnchored(e) => ChainEvent::AuditAnchored {
            auditor: e.auditor,
            sequence: e.sequence,
            head: e.head,
        },
        _ => return vec![],
    };
    vec![at(0, event)]
}
