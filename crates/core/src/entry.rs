//! Entries, their canonical form and their on-chain commitments.
//!
//! A *record* is one clinical item (a diagnosis, a medication, the patient's demographics); each
//! change to it is a new *revision*, stored as its own entry and anchored as its own link in the
//! patient's on-chain history. The chain holds, per entry, only
//!
//! ```text
//! commitment = keccak256(salt ‖ canonical)
//! canonical  = "medledger.entry.v1" ‖ record (16 bytes) ‖ revision (u32, big-endian)
//!              ‖ kind (u8) ‖ author (20 bytes) ‖ recorded_at (u64 ms since the Unix epoch, big-endian)
//!              ‖ length of content (u32, big-endian) ‖ content (the stored JSON, byte for byte)
//! ```
//!
//! with a random 32-byte salt kept, encrypted, beside the content, so that a commitment to a common
//! diagnosis cannot be found by hashing guesses. docs/store.md has fixed vectors.

use alloy::primitives::{Address, B256, keccak256};
use zeroize::Zeroizing;

use crate::crypto::random_bytes;
use crate::{Error, Result};

/// What an entry records. The chain sees this kind (as its number) and nothing else of the entry:
/// its content stays off-chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    /// A diagnosis (FHIR Condition).
    Diagnosis = 0,
    /// A medication (FHIR MedicationStatement).
    Medication = 1,
    /// An observation (FHIR Observation).
    Observation = 2,
    /// A free-text clinical note.
    Note = 3,
    /// An allergy or intolerance (FHIR AllergyIntolerance).
    Allergy = 4,
    /// The patient's demographics record (name, birth date, contact), so edits to it are caught too.
    Demographics = 5,
}

impl TryFrom<u8> for EntryKind {
    type Error = Error;

    fn try_from(value: u8) -> Result<Self> {
        Ok(match value {
            0 => Self::Diagnosis,
            1 => Self::Medication,
            2 => Self::Observation,
            3 => Self::Note,
            4 => Self::Allergy,
            5 => Self::Demographics,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown entry kind {other}: expected 0 (diagnosis) to 5 (demographics)"
                )));
            }
        })
    }
}

/// Declares a 16-byte random identifier type, shown and parsed as 32 hex digits.
macro_rules! id16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A new random identifier.
            pub fn random() -> $crate::Result<Self> {
                let mut id = [0u8; 16];
                $crate::crypto::random_bytes(&mut id)?;
                Ok(Self(id))
            }

            /// The identifier from its 16 stored bytes.
            pub fn from_slice(bytes: &[u8]) -> $crate::Result<Self> {
                bytes.try_into().map(Self).map_err(|_| $crate::Error::Malformed(stringify!($name)))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&alloy::hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(text: &str) -> $crate::Result<Self> {
                let bytes = alloy::hex::decode(text).map_err(|_| $crate::Error::Malformed(stringify!($name)))?;
                Self::from_slice(&bytes)
            }
        }

        /// Serialised as its 32 hexadecimal digits, as it appears in URLs.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

pub(crate) use id16;

id16!(
    /// A patient's identifier in the store: random, never derived from who they are. (Their
    /// on-chain id is a separate number the contract assigns.)
    PatientId
);
id16!(
    /// A record's identifier: the same for every revision of one clinical item.
    RecordId
);

/// The per-entry salt of its commitment.
pub type Salt = [u8; 32];

/// One revision of one record, as committed to on-chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record it is a revision of.
    pub record: RecordId,
    /// Its revision, from 1.
    pub revision: u32,
    /// What it records.
    pub kind: EntryKind,
    /// The doctor (or patient) who wrote it.
    pub author: Address,
    /// When it was written, in milliseconds since the Unix epoch.
    pub recorded_at: u64,
    /// The content: a JSON document (a FHIR resource), byte for byte as stored.
    pub content: Vec<u8>,
}

impl Entry {
    /// The canonical form the commitment covers (see the module documentation).
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(18 + 16 + 4 + 1 + 20 + 8 + 4 + self.content.len());
        out.extend_from_slice(b"medledger.entry.v1");
        out.extend_from_slice(&self.record.0);
        out.extend_from_slice(&self.revision.to_be_bytes());
        out.push(self.kind as u8);
        out.extend_from_slice(self.author.as_slice());
        out.extend_from_slice(&self.recorded_at.to_be_bytes());
        out.extend_from_slice(&(self.content.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.content);
        out
    }

    /// The on-chain commitment under `salt`.
    pub fn commitment(&self, salt: &Salt) -> B256 {
        let mut preimage = Vec::with_capacity(32 + 80 + self.content.len());
        preimage.extend_from_slice(salt);
        preimage.extend_from_slice(&self.canonical());
        keccak256(preimage)
    }
}

/// A fresh random salt.
pub fn new_salt() -> Result<Salt> {
    let mut salt = [0u8; 32];
    random_bytes(&mut salt)?;
    Ok(salt)
}

/// What is sealed for an entry: its salt followed by its content.
pub fn sealed_payload(salt: &Salt, content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(32 + content.len()));
    out.extend_from_slice(salt);
    out.extend_from_slice(content);
    out
}

/// Splits an opened payload back into salt and content.
pub fn split_payload(payload: &[u8]) -> Result<(Salt, &[u8])> {
    if payload.len() < 32 {
        return Err(Error::Malformed("entry payload"));
    }
    let (salt, content) = payload.split_at(32);
    Ok((salt.try_into().expect("32 bytes"), content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_kinds_are_named() {
        for k in 0..=5u8 {
            assert_eq!(EntryKind::try_from(k).map(|kind| kind as u8).ok(), Some(k));
        }
        let unknown = EntryKind::try_from(6).unwrap_err().to_string();
        assert!(unknown.contains("unknown entry kind 6"), "{unknown}");
    }

    /// The fixed vector in docs/store.md (the commitment recomputed with `cast keccak`): another
    /// implementation must reproduce it.
    #[test]
    fn commitment_matches_the_documented_vector() {
        let entry = Entry {
            record: RecordId([0x11; 16]),
            revision: 2,
            kind: EntryKind::Diagnosis,
            author: Address::repeat_byte(0xaa),
            recorded_at: 1_767_225_600_000,
            content: br#"{"code":"J45","resourceType":"Condition"}"#.to_vec(),
        };
        assert_eq!(
            alloy::hex::encode(entry.canonical()),
            concat!(
                "6d65646c65646765722e656e7472792e7631",
                "11111111111111111111111111111111",
                "00000002",
                "00",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "0000019b76daa800",
                "00000029",
                "7b22636f6465223a224a3435222c227265736f7572636554797065223a22436f6e646974696f6e227d",
            )
        );
        assert_eq!(
            entry.commitment(&[0x22; 32]).to_string(),
            "0x014dcc3d0263060affb8158a0e7e8d2b3164c7742d54d07068b8fe63c92e20a2",
            "commitment vector"
        );
    }

    #[test]
    fn every_field_changes_the_commitment() {
        let base = Entry {
            record: RecordId([1; 16]),
            revision: 1,
            kind: EntryKind::Medication,
            author: Address::repeat_byte(1),
            recorded_at: 1,
            content: b"{}".to_vec(),
        };
        let salt = [3; 32];
        let variants = [
            Entry {
                record: RecordId([2; 16]),
                ..base.clone()
            },
            Entry {
                revision: 2,
                ..base.clone()
            },
            Entry {
                kind: EntryKind::Diagnosis,
                ..base.clone()
            },
            Entry {
                author: Address::repeat_byte(2),
                ..base.clone()
            },
            Entry {
                recorded_at: 2,
                ..base.clone()
            },
            Entry {
                content: b"{ }".to_vec(),
                ..base.clone()
            },
        ];
        for variant in variants {
            assert_ne!(variant.commitment(&salt), base.commitment(&salt), "{variant:?}");
        }
        assert_ne!(base.commitment(&[4; 32]), base.commitment(&salt));
    }

    #[test]
    fn ids_round_trip_as_hex() {
        let id = PatientId::random().unwrap();
        assert_eq!(id.to_string().parse::<PatientId>().unwrap(), id);
        assert!("zz".parse::<RecordId>().is_err());
    }
}
