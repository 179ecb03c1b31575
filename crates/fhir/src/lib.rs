//! FHIR R4 (4.0.1) as MedLedger speaks it, with no I/O.
//!
//! - [`json`]: request bodies parsed strictly: duplicate keys refused, nesting bounded.
//! - [`model`]: the elements of each resource MedLedger stores (Patient, Condition,
//!   MedicationStatement, Observation, AllergyIntolerance, Basic) and of the data types they use,
//!   with cardinality, choice types and required code sets, as R4 defines them.
//! - [`validate`]: checks a resource against the model: unknown elements, wrong types, impossible
//!   dates, bad ids, empty strings, missing required elements; every problem with its path.
//! - [`time`]: FHIR's date, dateTime, instant and time formats, calendar-checked.
//! - [`outcome`]: OperationOutcome, this crate's error.
//! - [`bundle`]: searchset and history Bundles, and the CapabilityStatement.
//!
//! Why our own model instead of a FHIR crate: the crates that exist (fhir-model, fhir-sdk) model
//! R4B, not R4, and cost minutes of build time; MedLedger stores six resource types, and refusing
//! what it does not model is what a strict server should do anyway. docs/fhir.md has the details.

pub mod bundle;
pub mod json;
pub mod model;
pub mod outcome;
pub mod time;
pub mod validate;

pub use model::ResourceType;
pub use outcome::{Issue, IssueCode, Outcome};

/// A result whose error is an OperationOutcome.
pub type Result<T> = std::result::Result<T, Outcome>;

/// The FHIR version spoken.
pub const FHIR_VERSION: &str = "4.0.1";

/// The media type of FHIR JSON.
pub const MEDIA_TYPE: &str = "application/fhir+json";
