//! The data types MedLedger's resources use, element by element, as R4 defines them.

use super::*;

pub(super) const CODING: Def = Def {
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
pub(super) const CODEABLE_CONCEPT: Def = Def {
    name: "CodeableConcept",
    elements: &[many("coding", Of(C::Coding)), opt("text", Ty::String)],
    required_choices: &[],
};
pub(super) const REFERENCE: Def = Def {
    name: "Reference",
    elements: &[
        opt("reference", Ty::String),
        opt("type", Ty::Uri),
        opt("identifier", Of(C::Identifier)),
        opt("display", Ty::String),
    ],
    required_choices: &[],
};
pub(super) const IDENTIFIER: Def = Def {
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
pub(super) const PERIOD: Def = Def {
    name: "Period",
    elements: &[opt("start", Ty::DateTime), opt("end", Ty::DateTime)],
    required_choices: &[],
};
pub(super) const QUANTITY: Def = Def {
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
pub(super) const RANGE: Def = Def {
    name: "Range",
    elements: &[opt("low", Of(C::Quantity)), opt("high", Of(C::Quantity))],
    required_choices: &[],
};
pub(super) const RATIO: Def = Def {
    name: "Ratio",
    elements: &[
        opt("numerator", Of(C::Quantity)),
        opt("denominator", Of(C::Quantity)),
    ],
    required_choices: &[],
};
pub(super) const ANNOTATION: Def = Def {
    name: "Annotation",
    elements: &[
        pick("author", "authorReference", REF),
        pick("author", "authorString", Ty::String),
        opt("time", Ty::DateTime),
        one("text", Ty::Markdown),
    ],
    required_choices: &[],
};
pub(super) const HUMAN_NAME: Def = Def {
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
pub(super) const CONTACT_POINT: Def = Def {
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
pub(super) const ADDRESS: Def = Def {
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
pub(super) const META: Def = Def {
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
pub(super) const NARRATIVE: Def = Def {
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
pub(super) const EXTENSION: Def = Def {
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
pub(super) const DOSAGE: Def = Def {
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
pub(super) const DOSE_AND_RATE: Def = Def {
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
pub(super) const TIMING: Def = Def {
    name: "Timing",
    elements: &[
        many("event", Ty::DateTime),
        opt("repeat", Of(C::TimingRepeat)),
        opt("code", CC),
    ],
    required_choices: &[],
};
pub(super) const UNITS_OF_TIME: &[&str] = &["s", "min", "h", "d", "wk", "mo", "a"];
pub(super) const TIMING_REPEAT: Def = Def {
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
