//! FHIR R4's type system, whole: every resource, data type and backbone element with its elements,
//! their types, cardinality, choice groups (`onset[x]`) and the code sets R4 binds as *required*
//! ([`r4`], generated from HL7's definitions), and the resource types MedLedger stores as entries
//! ([`ResourceType`]). An element R4 does not define is refused as unknown.

pub(crate) mod r4;

/// Declares the stored resource types: each with the element naming its patient, the elements
/// R4's `date` search parameter reads (in order) and the element its `code` parameter reads.
macro_rules! resource_types {
    ($($(#[$doc:meta])* $name:ident: $patient:expr, [$($date:literal),*], $code:expr;)*) => {
        /// A resource type MedLedger stores as entries: the patient's demographics, every clinical
        /// resource of R4's Patient compartment that names its patient in one element, and the
        /// shared resources a chart refers to (kept with that chart: [`ResourceType::is_shared`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ResourceType {
            $($(#[$doc])* $name,)*
        }

        impl ResourceType {
            /// Every type, in the order the CapabilityStatement lists them.
            pub const ALL: &[Self] = &[$(Self::$name,)*];

            /// Its name in FHIR.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }

            /// The element that references the patient (`subject`, `patient`, `beneficiary`);
            /// `None` for Patient itself.
            pub fn patient_element(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => $patient,)*
                }
            }

            /// The elements R4's `date` search parameter looks at, in order of preference (empty
            /// where R4 defines no `date` parameter).
            pub fn date_elements(self) -> &'static [&'static str] {
                match self {
                    $(Self::$name => &[$($date),*],)*
                }
            }

            /// The element R4's `code` search parameter looks at (a CodeableConcept), where R4
            /// defines one.
            pub fn code_element(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => $code,)*
                }
            }
        }
    };
}

resource_types! {
    /// The patient's demographics.
    Patient: None, ["birthDate"], None;
    /// A diagnosis.
    Condition: Some("subject"), ["onsetDateTime", "onsetPeriod", "recordedDate"], Some("code");
    /// A medication taken.
    MedicationStatement: Some("subject"), ["effectiveDateTime", "effectivePeriod", "dateAsserted"], Some("medicationCodeableConcept");
    /// A measurement or finding.
    Observation: Some("subject"), ["effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"], Some("code");
    /// An allergy or intolerance.
    AllergyIntolerance: Some("patient"), ["recordedDate", "onsetDateTime"], Some("code");
    /// A note.
    Basic: Some("subject"), ["created"], Some("code");
    /// A visit or stay.
    Encounter: Some("subject"), ["period"], None;
    /// A prescription.
    MedicationRequest: Some("subject"), ["authoredOn"], Some("medicationCodeableConcept");
    /// A medication given.
    MedicationAdministration: Some("subject"), ["effectiveDateTime", "effectivePeriod"], Some("medicationCodeableConcept");
    /// A medication dispensed.
    MedicationDispense: Some("subject"), ["whenHandedOver", "whenPrepared"], Some("medicationCodeableConcept");
    /// A vaccination.
    Immunization: Some("patient"), ["occurrenceDateTime"], None;
    /// A procedure.
    Procedure: Some("subject"), ["performedDateTime", "performedPeriod"], Some("code");
    /// A report of results.
    DiagnosticReport: Some("subject"), ["effectiveDateTime", "effectivePeriod"], Some("code");
    /// An order.
    ServiceRequest: Some("subject"), [], Some("code");
    /// A sample.
    Specimen: Some("subject"), [], None;
    /// A document.
    DocumentReference: Some("subject"), ["date"], None;
    /// A composed document.
    Composition: Some("subject"), ["date"], None;
    /// A plan of care.
    CarePlan: Some("subject"), ["period"], None;
    /// A care team.
    CareTeam: Some("subject"), ["period"], None;
    /// A clinical assessment.
    ClinicalImpression: Some("subject"), ["date"], None;
    /// A relative's history.
    FamilyMemberHistory: Some("patient"), ["date"], None;
    /// An imaging study.
    ImagingStudy: Some("subject"), [], None;
    /// Insurance cover.
    Coverage: Some("beneficiary"), [], None;
    /// A device used by or implanted in the patient.
    Device: Some("patient"), [], None;
    /// A goal of care.
    Goal: Some("subject"), [], None;
    /// A risk assessment.
    RiskAssessment: Some("subject"), ["occurrenceDateTime"], None;
    /// A diet order.
    NutritionOrder: Some("patient"), [], None;
    /// A claim.
    Claim: Some("patient"), [], None;
    /// An insurer's explanation of benefit.
    ExplanationOfBenefit: Some("patient"), [], None;
    /// A device ordered.
    DeviceRequest: Some("subject"), [], Some("codeCodeableConcept");
    /// Answers to a questionnaire.
    QuestionnaireResponse: Some("subject"), [], None;
    /// A photo, video or recording.
    Media: Some("subject"), [], None;
    /// A warning.
    Flag: Some("subject"), ["period"], None;
    /// An adverse event.
    AdverseEvent: Some("subject"), ["date"], None;
    /// An episode of care.
    EpisodeOfCare: Some("patient"), ["period"], None;
    /// A supply delivered.
    SupplyDelivery: Some("patient"), [], None;
    /// A clinical issue detected.
    DetectedIssue: Some("patient"), [], Some("code");
    /// A list.
    List: Some("subject"), ["date"], Some("code");
    /// A device in use.
    DeviceUseStatement: Some("subject"), [], None;
    /// A communication.
    Communication: Some("subject"), [], None;
    /// A body structure.
    BodyStructure: Some("patient"), [], None;
    /// A clinician (shared: kept with the chart it came with).
    Practitioner: None, [], None;
    /// A clinician's role at an organisation (shared).
    PractitionerRole: None, [], None;
    /// An organisation (shared).
    Organization: None, [], None;
    /// A place (shared).
    Location: None, [], None;
    /// A medication's definition (shared).
    Medication: None, [], Some("code");
}

impl ResourceType {
    /// The type of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// A resource shared between patients in FHIR (a Practitioner, an Organization), which
    /// MedLedger keeps with the chart of the patient it came with: it names no patient.
    pub fn is_shared(self) -> bool {
        self != Self::Patient && self.patient_element().is_none()
    }
}
