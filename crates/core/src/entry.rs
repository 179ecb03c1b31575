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

/// Declares the entry kinds: each with its number on the chain, the FHIR R4 resource type it
/// holds, and the name a page shows.
macro_rules! entry_kinds {
    ($($(#[$doc:meta])* $name:ident = $n:literal, $fhir:literal, $label:literal;)*) => {
        /// What an entry records: one FHIR R4 resource type each. The chain sees this kind (as its
        /// number) and nothing else of the entry: its content stays off-chain. The numbers are
        /// fixed for ever (the chain holds them); docs/fhir.md lists them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum EntryKind {
            $($(#[$doc])* $name = $n,)*
        }

        impl EntryKind {
            /// Every kind, by number.
            pub const ALL: &[Self] = &[$(Self::$name,)*];

            /// The FHIR R4 resource type an entry of this kind holds.
            pub fn fhir_type(self) -> &'static str {
                match self {
                    $(Self::$name => $fhir,)*
                }
            }

            /// What a page calls it.
            pub fn label(self) -> &'static str {
                match self {
                    $(Self::$name => $label,)*
                }
            }

            /// The kind that holds resources of this FHIR type.
            pub fn of_fhir_type(name: &str) -> Option<Self> {
                match name {
                    $($fhir => Some(Self::$name),)*
                    _ => None,
                }
            }
        }

        impl TryFrom<u8> for EntryKind {
            type Error = Error;

            fn try_from(value: u8) -> Result<Self> {
                match value {
                    $($n => Ok(Self::$name),)*
                    other => Err(Error::Invalid(format!(
                        "unknown entry kind {other}: expected 0 to {}",
                        Self::ALL.len() - 1
                    ))),
                }
            }
        }
    };
}

entry_kinds! {
    /// A diagnosis.
    Diagnosis = 0, "Condition", "Diagnosis";
    /// A medication taken.
    Medication = 1, "MedicationStatement", "Medication";
    /// A measurement or finding.
    Observation = 2, "Observation", "Observation";
    /// A free-text clinical note.
    Note = 3, "Basic", "Note";
    /// An allergy or intolerance.
    Allergy = 4, "AllergyIntolerance", "Allergy";
    /// The patient's demographics record (name, birth date, contact), so edits to it are caught too.
    Demographics = 5, "Patient", "Demographics";
    /// A visit or stay.
    Encounter = 6, "Encounter", "Encounter";
    /// A prescription.
    MedicationRequest = 7, "MedicationRequest", "Prescription";
    /// A medication given.
    MedicationAdministration = 8, "MedicationAdministration", "Medication given";
    /// A medication dispensed.
    MedicationDispense = 9, "MedicationDispense", "Medication dispensed";
    /// A vaccination.
    Immunization = 10, "Immunization", "Immunization";
    /// A procedure.
    Procedure = 11, "Procedure", "Procedure";
    /// A report of results.
    DiagnosticReport = 12, "DiagnosticReport", "Report";
    /// An order.
    ServiceRequest = 13, "ServiceRequest", "Order";
    /// A sample.
    Specimen = 14, "Specimen", "Specimen";
    /// A document.
    DocumentReference = 15, "DocumentReference", "Document";
    /// A composed document.
    Composition = 16, "Composition", "Composition";
    /// A plan of care.
    CarePlan = 17, "CarePlan", "Care plan";
    /// A care team.
    CareTeam = 18, "CareTeam", "Care team";
    /// A clinical assessment.
    ClinicalImpression = 19, "ClinicalImpression", "Assessment";
    /// A relative's history.
    FamilyMemberHistory = 20, "FamilyMemberHistory", "Family history";
    /// An imaging study.
    ImagingStudy = 21, "ImagingStudy", "Imaging study";
    /// Insurance cover.
    Coverage = 22, "Coverage", "Coverage";
    /// A device used by or implanted in the patient.
    Device = 23, "Device", "Device";
    /// A goal of care.
    Goal = 24, "Goal", "Goal";
    /// A risk assessment.
    RiskAssessment = 25, "RiskAssessment", "Risk assessment";
    /// A diet order.
    NutritionOrder = 26, "NutritionOrder", "Diet order";
    /// A claim.
    Claim = 27, "Claim", "Claim";
    /// An insurer's explanation of benefit.
    ExplanationOfBenefit = 28, "ExplanationOfBenefit", "Explanation of benefit";
    /// A device ordered.
    DeviceRequest = 29, "DeviceRequest", "Device order";
    /// Answers to a questionnaire.
    QuestionnaireResponse = 30, "QuestionnaireResponse", "Questionnaire answers";
    /// A photo, video or recording.
    Media = 31, "Media", "Media";
    /// A warning.
    Flag = 32, "Flag", "Flag";
    /// An adverse event.
    AdverseEvent = 33, "AdverseEvent", "Adverse event";
    /// An episode of care.
    EpisodeOfCare = 34, "EpisodeOfCare", "Episode of care";
    /// A supply delivered.
    SupplyDelivery = 35, "SupplyDelivery", "Supply delivered";
    /// A clinical issue detected.
    DetectedIssue = 36, "DetectedIssue", "Detected issue";
    /// A list.
    List = 37, "List", "List";
    /// A device in use.
    DeviceUseStatement = 38, "DeviceUseStatement", "Device in use";
    /// A communication.
    Communication = 39, "Communication", "Communication";
    /// A body structure.
    BodyStructure = 40, "BodyStructure", "Body structure";
    /// A clinician the chart refers to.
    Practitioner = 41, "Practitioner", "Clinician";
    /// A clinician's role at an organisation the chart refers to.
    PractitionerRole = 42, "PractitionerRole", "Clinician's role";
    /// An organisation the chart refers to.
    Organization = 43, "Organization", "Organisation";
    /// A place the chart refers to.
    Location = 44, "Location", "Location";
    /// A medication's definition the chart refers to.
    MedicationDefinition = 45, "Medication", "Medication definition";
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
        for (n, kind) in EntryKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, n, "the kinds are numbered without gaps");
            assert_eq!(EntryKind::try_from(n as u8).ok(), Some(*kind));
            assert_eq!(EntryKind::of_fhir_type(kind.fhir_type()), Some(*kind));
        }
        let unknown = EntryKind::try_from(46).unwrap_err().to_string();
        assert!(
            unknown.contains("unknown entry kind 46: expected 0 to 45"),
            "{unknown}"
        );
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
