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

const CODING: Def = Def {
    name: "Coding",
    elements: &[
        opt("system", Ty::Uri),
        opt("version", Ty::String),
        opt("code", Ty::Code),
        opt("display", Ty::String),
        opt("userSelected", Ty::Boolean),
    ],
    required_choices: &[],
};
const CODEABLE_CONCEPT: Def = Def {
    name: "CodeableConcept",
    elements: &[many("coding", Of(C::Coding)), opt("text", Ty::String)],
    required_choices: &[],
};
const REFERENCE: Def = Def {
    name: "Reference",
    elements: &[
        opt("reference", Ty::String),
        opt("type", Ty::Uri),
        opt("identifier", Of(C::Identifier)),
        opt("display", Ty::String),
    ],
    required_choices: &[],
};
const IDENTIFIER: Def = Def {
    name: "Identifier",
    elements: &[
        opt(
            "use",
            Ty::OneOf(&["usual", "official", "temp", "secondary", "old"]),
        ),
        opt("type", CC),
        opt("system", Ty::Uri),
        opt("value", Ty::String),
        opt("period", Of(C::Period)),
    ],
    required_choices: &[],
};
const PERIOD: Def = Def {
    name: "Period",
    elements: &[opt("start", Ty::DateTime), opt("end", Ty::DateTime)],
    required_choices: &[],
};
const QUANTITY: Def = Def {
    name: "Quantity",
    elements: &[
        opt("value", Ty::Decimal),
        opt("comparator", Ty::OneOf(&["<", "<=", ">=", ">"])),
        opt("unit", Ty::String),
        opt("system", Ty::Uri),
        opt("code", Ty::Code),
    ],
    required_choices: &[],
};
const RANGE: Def = Def {
    name: "Range",
    elements: &[opt("low", Of(C::Quantity)), opt("high", Of(C::Quantity))],
    required_choices: &[],
};
const RATIO: Def = Def {
    name: "Ratio",
    elements: &[
        opt("numerator", Of(C::Quantity)),
        opt("denominator", Of(C::Quantity)),
    ],
    required_choices: &[],
};
const ANNOTATION: Def = Def {
    name: "Annotation",
    elements: &[
        pick("author", "authorReference", REF),
        pick("author", "authorString", Ty::String),
        opt("time", Ty::DateTime),
        one("text", Ty::Markdown),
    ],
    required_choices: &[],
};
const HUMAN_NAME: Def = Def {
    name: "HumanName",
    elements: &[
        opt(
            "use",
            Ty::OneOf(&[
                "usual",
                "official",
                "temp",
                "nickname",
                "anonymous",
                "old",
                "maiden",
            ]),
        ),
        opt("text", Ty::String),
        opt("family", Ty::String),
        many("given", Ty::String),
        many("prefix", Ty::String),
        many("suffix", Ty::String),
        opt("period", Of(C::Period)),
    ],
    required_choices: &[],
};
const CONTACT_POINT: Def = Def {
    name: "ContactPoint",
    elements: &[
        opt(
            "system",
            Ty::OneOf(&["phone", "fax", "email", "pager", "url", "sms", "other"]),
        ),
        opt("value", Ty::String),
        opt("use", Ty::OneOf(&["home", "work", "temp", "old", "mobile"])),
        opt("rank", Ty::PositiveInt),
        opt("period", Of(C::Period)),
    ],
    required_choices: &[],
};
const ADDRESS: Def = Def {
    name: "Address",
    elements: &[
        opt("use", Ty::OneOf(&["home", "work", "temp", "old", "billing"])),
        opt("type", Ty::OneOf(&["postal", "physical", "both"])),
        opt("text", Ty::String),
        many("line", Ty::String),
        opt("city", Ty::String),
        opt("district", Ty::String),
        opt("state", Ty::String),
        opt("postalCode", Ty::String),
        opt("country", Ty::String),
        opt("period", Of(C::Period)),
    ],
    required_choices: &[],
};
const META: Def = Def {
    name: "Meta",
    elements: &[
        opt("versionId", Ty::Id),
        opt("lastUpdated", Ty::Instant),
        opt("source", Ty::Uri),
        many("profile", Ty::Uri),
        many("security", Of(C::Coding)),
        many("tag", Of(C::Coding)),
    ],
    required_choices: &[],
};
const NARRATIVE: Def = Def {
    name: "Narrative",
    elements: &[
        one(
            "status",
            Ty::OneOf(&["generated", "extensions", "additional", "empty"]),
        ),
        one("div", Ty::Xhtml),
    ],
    required_choices: &[],
};
const EXTENSION: Def = Def {
    name: "Extension",
    elements: &[
        one("url", Ty::Uri),
        pick("value", "valueBoolean", Ty::Boolean),
        pick("value", "valueCode", Ty::Code),
        pick("value", "valueDate", Ty::Date),
        pick("value", "valueDateTime", Ty::DateTime),
        pick("value", "valueDecimal", Ty::Decimal),
        pick("value", "valueInteger", Ty::Integer),
        pick("value", "valueString", Ty::String),
        pick("value", "valueUri", Ty::Uri),
        pick("value", "valueCoding", Of(C::Coding)),
        pick("value", "valueCodeableConcept", CC),
        pick("value", "valueQuantity", Of(C::Quantity)),
        pick("value", "valuePeriod", Of(C::Period)),
        pick("value", "valueReference", REF),
        pick("value", "valueIdentifier", Of(C::Identifier)),
    ],
    required_choices: &[],
};
const DOSAGE: Def = Def {
    name: "Dosage",
    elements: &[
        opt("sequence", Ty::Integer),
        opt("text", Ty::String),
        many("additionalInstruction", CC),
        opt("patientInstruction", Ty::String),
        opt("timing", Of(C::Timing)),
        pick("asNeeded", "asNeededBoolean", Ty::Boolean),
        pick("asNeeded", "asNeededCodeableConcept", CC),
        opt("site", CC),
        opt("route", CC),
        opt("method", CC),
        many("doseAndRate", Of(C::DoseAndRate)),
        opt("maxDosePerPeriod", Of(C::Ratio)),
        opt("maxDosePerAdministration", Of(C::Quantity)),
        opt("maxDosePerLifetime", Of(C::Quantity)),
    ],
    required_choices: &[],
};
const DOSE_AND_RATE: Def = Def {
    name: "Dosage.doseAndRate",
    elements: &[
        opt("type", CC),
        pick("dose", "doseRange", Of(C::Range)),
        pick("dose", "doseQuantity", Of(C::Quantity)),
        pick("rate", "rateRatio", Of(C::Ratio)),
        pick("rate", "rateRange", Of(C::Range)),
        pick("rate", "rateQuantity", Of(C::Quantity)),
    ],
    required_choices: &[],
};
const TIMING: Def = Def {
    name: "Timing",
    elements: &[
        many("event", Ty::DateTime),
        opt("repeat", Of(C::TimingRepeat)),
        opt("code", CC),
    ],
    required_choices: &[],
};
const UNITS_OF_TIME: &[&str] = &["s", "min", "h", "d", "wk", "mo", "a"];
const TIMING_REPEAT: Def = Def {
    name: "Timing.repeat",
    elements: &[
        pick("bounds", "boundsDuration", Of(C::Quantity)),
        pick("bounds", "boundsRange", Of(C::Range)),
        pick("bounds", "boundsPeriod", Of(C::Period)),
        opt("count", Ty::PositiveInt),
        opt("countMax", Ty::PositiveInt),
        opt("duration", Ty::Decimal),
        opt("durationMax", Ty::Decimal),
        opt("durationUnit", Ty::OneOf(UNITS_OF_TIME)),
        opt("frequency", Ty::PositiveInt),
        opt("frequencyMax", Ty::PositiveInt),
        opt("period", Ty::Decimal),
        opt("periodMax", Ty::Decimal),
        opt("periodUnit", Ty::OneOf(UNITS_OF_TIME)),
        many(
            "dayOfWeek",
            Ty::OneOf(&["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
        ),
        many("timeOfDay", Ty::Time),
        many("when", Ty::Code),
        opt("offset", Ty::UnsignedInt),
    ],
    required_choices: &[],
};

/// `value[x]` of an Observation and of its components.
const OBSERVATION_VALUE: [El; 10] = [
    pick("value", "valueQuantity", Of(C::Quantity)),
    pick("value", "valueCodeableConcept", CC),
    pick("value", "valueString", Ty::String),
    pick("value", "valueBoolean", Ty::Boolean),
    pick("value", "valueInteger", Ty::Integer),
    pick("value", "valueRange", Of(C::Range)),
    pick("value", "valueRatio", Of(C::Ratio)),
    pick("value", "valueTime", Ty::Time),
    pick("value", "valueDateTime", Ty::DateTime),
    pick("value", "valuePeriod", Of(C::Period)),
];

const REFERENCE_RANGE: Def = Def {
    name: "Observation.referenceRange",
    elements: &[
        opt("low", Of(C::Quantity)),
        opt("high", Of(C::Quantity)),
        opt("type", CC),
        many("appliesTo", CC),
        opt("age", Of(C::Range)),
        opt("text", Ty::String),
    ],
    required_choices: &[],
};
const OBSERVATION_COMPONENT: Def = Def {
    name: "Observation.component",
    elements: &[
        one("code", CC),
        OBSERVATION_VALUE[0],
        OBSERVATION_VALUE[1],
        OBSERVATION_VALUE[2],
        OBSERVATION_VALUE[3],
        OBSERVATION_VALUE[4],
        OBSERVATION_VALUE[5],
        OBSERVATION_VALUE[6],
        OBSERVATION_VALUE[7],
        OBSERVATION_VALUE[8],
        OBSERVATION_VALUE[9],
        opt("dataAbsentReason", CC),
        many("interpretation", CC),
        many("referenceRange", Of(C::ReferenceRange)),
    ],
    required_choices: &[],
};
const OBSERVATION: Def = Def {
    name: "Observation",
    elements: &[
        many("identifier", Of(C::Identifier)),
        many("basedOn", REF),
        many("partOf", REF),
        one(
            "status",
            Ty::OneOf(&[
                "registered",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "cancelled",
                "entered-in-error",
                "unknown",
            ]),
        ),
        many("category", CC),
        one("code", CC),
        opt("subject", REF),
        many("focus", REF),
        opt("encounter", REF),
        pick("effective", "effectiveDateTime", Ty::DateTime),
        pick("effective", "effectivePeriod", Of(C::Period)),
        pick("effective", "effectiveInstant", Ty::Instant),
        opt("issued", Ty::Instant),
        many("performer", REF),
        OBSERVATION_VALUE[0],
        OBSERVATION_VALUE[1],
        OBSERVATION_VALUE[2],
        OBSERVATION_VALUE[3],
        OBSERVATION_VALUE[4],
        OBSERVATION_VALUE[5],
        OBSERVATION_VALUE[6],
        OBSERVATION_VALUE[7],
        OBSERVATION_VALUE[8],
        OBSERVATION_VALUE[9],
        opt("dataAbsentReason", CC),
        many("interpretation", CC),
        many("note", Of(C::Annotation)),
        opt("bodySite", CC),
        opt("method", CC),
        opt("specimen", REF),
        opt("device", REF),
        many("referenceRange", Of(C::ReferenceRange)),
        many("hasMember", REF),
        many("derivedFrom", REF),
        many("component", Of(C::ObservationComponent)),
    ],
    required_choices: &[],
};

const CONDITION_STAGE: Def = Def {
    name: "Condition.stage",
    elements: &[opt("summary", CC), many("assessment", REF), opt("type", CC)],
    required_choices: &[],
};
const CONDITION_EVIDENCE: Def = Def {
    name: "Condition.evidence",
    elements: &[many("code", CC), many("detail", REF)],
    required_choices: &[],
};
const CONDITION: Def = Def {
    name: "Condition",
    elements: &[
        many("identifier", Of(C::Identifier)),
        opt("clinicalStatus", CC),
        opt("verificationStatus", CC),
        many("category", CC),
        opt("severity", CC),
        opt("code", CC),
        many("bodySite", CC),
        one("subject", REF),
        opt("encounter", REF),
        pick("onset", "onsetDateTime", Ty::DateTime),
        pick("onset", "onsetAge", Of(C::Quantity)),
        pick("onset", "onsetPeriod", Of(C::Period)),
        pick("onset", "onsetRange", Of(C::Range)),
        pick("onset", "onsetString", Ty::String),
        pick("abatement", "abatementDateTime", Ty::DateTime),
        pick("abatement", "abatementAge", Of(C::Quantity)),
        pick("abatement", "abatementPeriod", Of(C::Period)),
        pick("abatement", "abatementRange", Of(C::Range)),
        pick("abatement", "abatementString", Ty::String),
        opt("recordedDate", Ty::DateTime),
        opt("recorder", REF),
        opt("asserter", REF),
        many("stage", Of(C::ConditionStage)),
        many("evidence", Of(C::ConditionEvidence)),
        many("note", Of(C::Annotation)),
    ],
    required_choices: &[],
};

const MEDICATION_STATEMENT: Def = Def {
    name: "MedicationStatement",
    elements: &[
        many("identifier", Of(C::Identifier)),
        many("basedOn", REF),
        many("partOf", REF),
        one(
            "status",
            Ty::OneOf(&[
                "active",
                "completed",
                "entered-in-error",
                "intended",
                "stopped",
                "on-hold",
                "unknown",
                "not-taken",
            ]),
        ),
        many("statusReason", CC),
        opt("category", CC),
        pick("medication", "medicationCodeableConcept", CC),
        pick("medication", "medicationReference", REF),
        one("subject", REF),
        opt("context", REF),
        pick("effective", "effectiveDateTime", Ty::DateTime),
        pick("effective", "effectivePeriod", Of(C::Period)),
        opt("dateAsserted", Ty::DateTime),
        opt("informationSource", REF),
        many("derivedFrom", REF),
        many("reasonCode", CC),
        many("reasonReference", REF),
        many("note", Of(C::Annotation)),
        many("dosage", Of(C::Dosage)),
    ],
    required_choices: &["medication"],
};

const ALLERGY_REACTION: Def = Def {
    name: "AllergyIntolerance.reaction",
    elements: &[
        opt("substance", CC),
        some("manifestation", CC),
        opt("description", Ty::String),
        opt("onset", Ty::DateTime),
        opt("severity", Ty::OneOf(&["mild", "moderate", "severe"])),
        opt("exposureRoute", CC),
        many("note", Of(C::Annotation)),
    ],
    required_choices: &[],
};
const ALLERGY_INTOLERANCE: Def = Def {
    name: "AllergyIntolerance",
    elements: &[
        many("identifier", Of(C::Identifier)),
        opt("clinicalStatus", CC),
        opt("verificationStatus", CC),
        opt("type", Ty::OneOf(&["allergy", "intolerance"])),
        many(
            "category",
            Ty::OneOf(&["food", "medication", "environment", "biologic"]),
        ),
        opt("criticality", Ty::OneOf(&["low", "high", "unable-to-assess"])),
        opt("code", CC),
        one("patient", REF),
        opt("encounter", REF),
        pick("onset", "onsetDateTime", Ty::DateTime),
        pick("onset", "onsetAge", Of(C::Quantity)),
        pick("onset", "onsetPeriod", Of(C::Period)),
        pick("onset", "onsetRange", Of(C::Range)),
        pick("onset", "onsetString", Ty::String),
        opt("recordedDate", Ty::DateTime),
        opt("recorder", REF),
        opt("asserter", REF),
        opt("lastOccurrence", Ty::DateTime),
        many("note", Of(C::Annotation)),
        many("reaction", Of(C::AllergyReaction)),
    ],
    required_choices: &[],
};

const PATIENT_COMMUNICATION: Def = Def {
    name: "Patient.communication",
    elements: &[one("language", CC), opt("preferred", Ty::Boolean)],
    required_choices: &[],
};
const PATIENT: Def = Def {
    name: "Patient",
    elements: &[
        many("identifier", Of(C::Identifier)),
        opt("active", Ty::Boolean),
        many("name", Of(C::HumanName)),
        many("telecom", Of(C::ContactPoint)),
        opt("gender", Ty::OneOf(&["male", "female", "other", "unknown"])),
        opt("birthDate", Ty::Date),
        pick("deceased", "deceasedBoolean", Ty::Boolean),
        pick("deceased", "deceasedDateTime", Ty::DateTime),
        many("address", Of(C::Address)),
        opt("maritalStatus", CC),
        pick("multipleBirth", "multipleBirthBoolean", Ty::Boolean),
        pick("multipleBirth", "multipleBirthInteger", Ty::Integer),
        many("communication", Of(C::PatientCommunication)),
        many("generalPractitioner", REF),
        opt("managingOrganization", REF),
    ],
    required_choices: &[],
};

const BASIC: Def = Def {
    name: "Basic",
    elements: &[
        many("identifier", Of(C::Identifier)),
        one("code", CC),
        opt("subject", REF),
        opt("created", Ty::Date),
        opt("author", REF),
    ],
    required_choices: &[],
};
