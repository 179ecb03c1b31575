//! The elements MedLedger models, as FHIR R4 defines them: for each resource type it stores and
//! each data type those use, the elements allowed, their types, their cardinality, choice groups
//! (`onset[x]`) and the code sets R4 binds as *required*. Anything not listed is refused as
//! unknown, so nothing MedLedger stores is something it cannot check or give back.

/// A resource type MedLedger stores as entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// The patient's demographics.
    Patient,
    /// A diagnosis.
    Condition,
    /// A medication.
    MedicationStatement,
    /// A measurement or finding.
    Observation,
    /// An allergy or intolerance.
    AllergyIntolerance,
    /// A note.
    Basic,
}

impl ResourceType {
    /// Every type, in the order the CapabilityStatement lists them.
    pub const ALL: [Self; 6] = [
        Self::Patient,
        Self::Condition,
        Self::MedicationStatement,
        Self::Observation,
        Self::AllergyIntolerance,
        Self::Basic,
    ];

    /// Its name in FHIR.
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Condition => "Condition",
            Self::MedicationStatement => "MedicationStatement",
            Self::Observation => "Observation",
            Self::AllergyIntolerance => "AllergyIntolerance",
            Self::Basic => "Basic",
        }
    }

    /// The type of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The element that references the patient (`subject`, or `patient` for an allergy); `None`
    /// for Patient itself.
    pub fn patient_element(self) -> Option<&'static str> {
        match self {
            Self::Patient => None,
            Self::AllergyIntolerance => Some("patient"),
            _ => Some("subject"),
        }
    }

    /// The elements the `date` search parameter looks at, in order of preference.
    pub fn date_elements(self) -> &'static [&'static str] {
        match self {
            Self::Patient => &["birthDate"],
            Self::Condition => &["onsetDateTime", "onsetPeriod", "recordedDate"],
            Self::MedicationStatement => &["effectiveDateTime", "effectivePeriod", "dateAsserted"],
            Self::Observation => &[
                "effectiveDateTime",
                "effectivePeriod",
                "effectiveInstant",
                "issued",
            ],
            Self::AllergyIntolerance => &["recordedDate", "onsetDateTime"],
            Self::Basic => &["created"],
        }
    }

    /// The element the `code` search parameter looks at.
    pub fn code_element(self) -> Option<&'static str> {
        match self {
            Self::Patient => None,
            Self::MedicationStatement => Some("medicationCodeableConcept"),
            _ => Some("code"),
        }
    }

    pub(crate) fn def(self) -> &'static Def {
        match self {
            Self::Patient => &PATIENT,
            Self::Condition => &CONDITION,
            Self::MedicationStatement => &MEDICATION_STATEMENT,
            Self::Observation => &OBSERVATION,
            Self::AllergyIntolerance => &ALLERGY_INTOLERANCE,
            Self::Basic => &BASIC,
        }
    }
}

/// An element's type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    String,
    Markdown,
    Code,
    Id,
    Uri,
    Boolean,
    Integer,
    UnsignedInt,
    PositiveInt,
    Decimal,
    Date,
    DateTime,
    Instant,
    Time,
    Xhtml,
    /// A code from a required code set.
    OneOf(&'static [&'static str]),
    /// A data type or backbone element.
    Of(Complex),
}

/// The data types and backbone elements modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Complex {
    Coding,
    CodeableConcept,
    Reference,
    Identifier,
    Period,
    Quantity,
    Range,
    Ratio,
    Annotation,
    HumanName,
    ContactPoint,
    Address,
    Meta,
    Narrative,
    Extension,
    Dosage,
    DoseAndRate,
    Timing,
    TimingRepeat,
    ObservationComponent,
    ReferenceRange,
    AllergyReaction,
    ConditionStage,
    ConditionEvidence,
    PatientCommunication,
}

impl Complex {
    pub(crate) fn def(self) -> &'static Def {
        match self {
            Self::Coding => &CODING,
            Self::CodeableConcept => &CODEABLE_CONCEPT,
            Self::Reference => &REFERENCE,
            Self::Identifier => &IDENTIFIER,
            Self::Period => &PERIOD,
            Self::Quantity => &QUANTITY,
            Self::Range => &RANGE,
            Self::Ratio => &RATIO,
            Self::Annotation => &ANNOTATION,
            Self::HumanName => &HUMAN_NAME,
            Self::ContactPoint => &CONTACT_POINT,
            Self::Address => &ADDRESS,
            Self::Meta => &META,
            Self::Narrative => &NARRATIVE,
            Self::Extension => &EXTENSION,
            Self::Dosage => &DOSAGE,
            Self::DoseAndRate => &DOSE_AND_RATE,
            Self::Timing => &TIMING,
            Self::TimingRepeat => &TIMING_REPEAT,
            Self::ObservationComponent => &OBSERVATION_COMPONENT,
            Self::ReferenceRange => &REFERENCE_RANGE,
            Self::AllergyReaction => &ALLERGY_REACTION,
            Self::ConditionStage => &CONDITION_STAGE,
            Self::ConditionEvidence => &CONDITION_EVIDENCE,
            Self::PatientCommunication => &PATIENT_COMMUNICATION,
        }
    }
}

/// One element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct El {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    /// At least one is required.
    pub(crate) required: bool,
    /// An array.
    pub(crate) many: bool,
    /// The choice group (`onset` for `onsetDateTime`) it belongs to, if any.
    pub(crate) choice: Option<&'static str>,
}

/// A type's elements.
#[derive(Debug)]
pub(crate) struct Def {
    pub(crate) name: &'static str,
    pub(crate) elements: &'static [El],
    /// Choice groups of which exactly one member is required.
    pub(crate) required_choices: &'static [&'static str],
}

const fn opt(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        required: false,
        many: false,
        choice: None,
    }
}
const fn one(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        required: true,
        many: false,
        choice: None,
    }
}
const fn many(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        required: false,
        many: true,
        choice: None,
    }
}
const fn some(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        required: true,
        many: true,
        choice: None,
    }
}
const fn pick(group: &'static str, name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        required: false,
        many: false,
        choice: Some(group),
    }
}

use Complex as C;
use Ty::Of;

const CC: Ty = Of(C::CodeableConcept);
const REF: Ty = Of(C::Reference);

mod datatypes;
mod resources;

use datatypes::*;
use resources::*;
