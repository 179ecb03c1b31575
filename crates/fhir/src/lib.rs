//! FHIR R4 (4.0.1) as MedLedger speaks it, with no I/O.
//!
//! - [`json`]: request bodies parsed strictly: duplicate keys refused, nesting bounded, numbers
//!   with their digits.
//! - [`model`]: R4's whole type system (generated from HL7's definitions: every resource, data type
//!   and backbone element with cardinality, choice types and required code sets), and the resource
//!   types MedLedger stores as records.
//! - [`validate`]: checks a resource against the model: unknown elements, wrong types, impossible
//!   dates, bad ids, empty strings, missing required elements; every problem with its path.
//! - [`time`]: FHIR's date, dateTime, instant and time formats, calendar-checked.
//! - [`outcome`]: OperationOutcome, this crate's error.
//! - [`bundle`]: searchset and history Bundles, and the CapabilityStatement.
//! - [`resource`]: a resource's references rewritten, and the server's part of its `meta`.
//!
//! Why a generated data model instead of a FHIR crate: the crates that exist (fhir-model,
//! fhir-sdk) model R4B, not R4, cost minutes of build time, and would not keep a decimal's digits;
//! the validator needs names, types, cardinality and code sets only. docs/fhir.md has the details.

pub mod bundle;
pub mod json;
pub mod model;
pub mod outcome;
pub mod resource;
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
