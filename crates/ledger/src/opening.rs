//! Opening a stored entry and re-deriving its commitment (for reads and for verification).

use alloy::primitives::B256;
use medledger_core::crypto::{Binding, DataKey};
use medledger_core::entry::{self, Entry, PatientId};
use medledger_store::entries::StoredEntry;

/// A stored entry, opened.
pub(crate) struct Opened {
    /// Its content, when it decrypts.
    pub(crate) content: Option<Vec<u8>>,
    /// The commitment re-derived from the content, its salt and the stored fields.
    pub(crate) recomputed: Option<B256>,
}

/// Opens `e` with its patient's key (`None` when the key itself is lost) and re-derives its commitment.
pub(crate) fn open(key: Option<&DataKey>, patient: PatientId, e: &StoredEntry) -> Opened {
    let binding = Binding {
        patient,
        record: e.record,
        revision: e.revision,
    };
    let Some(payload) = key.and_then(|k| k.open(&binding, &e.sealed).ok()) else {
        return Opened {
            content: None,
            recomputed: None,
        };
    };
    let Ok((salt, content)) = entry::split_payload(&payload) else {
        return Opened {
            content: None,
            recomputed: None,
        };
    };
    let recomputed = e.kind.map(|kind| {
        Entry {
            record: e.record,
            revision: e.revision,
            kind,
            author: e.author,
            recorded_at: e.recorded_at,
            content: content.to_vec(),
        }
        .commitment(&salt)
    });
    Opened {
        content: Some(content.to_vec()),
        recomputed,
    }
}
