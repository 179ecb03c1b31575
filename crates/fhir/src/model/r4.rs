//! The R4 model, loaded once from `r4.json` (generated from HL7's StructureDefinitions by `cargo
//! xtask fhir-model`; a test keeps it equal to them). Why a data file and not generated Rust: the
//! validator needs only names, types, cardinality and required code sets, a third of a megabyte
//! read in a few milliseconds, where a generated type per element (fhirbolt's model, say) costs
//! minutes of build and would not keep a decimal's digits anyway. Element names are looked up with
//! rustc's FxHash: the keys are the model's own, fixed at build time, so a client can make no
//! collisions, and every element of every resource written and read is a lookup.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// A primitive type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    String,
    Markdown,
    Code,
    Id,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Base64Binary,
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
}

impl Prim {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "markdown" => Self::Markdown,
            "code" => Self::Code,
            "id" => Self::Id,
            "uri" => Self::Uri,
            "url" => Self::Url,
            "canonical" => Self::Canonical,
            "oid" => Self::Oid,
            "uuid" => Self::Uuid,
            "base64Binary" => Self::Base64Binary,
            "boolean" => Self::Boolean,
            "integer" => Self::Integer,
            "unsignedInt" => Self::UnsignedInt,
            "positiveInt" => Self::PositiveInt,
            "decimal" => Self::Decimal,
            "date" => Self::Date,
            "dateTime" => Self::DateTime,
            "instant" => Self::Instant,
            "time" => Self::Time,
            "xhtml" => Self::Xhtml,
            _ => return None,
        })
    }
}

/// An element's type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// A primitive value.
    Prim(Prim),
    /// A data type or backbone element: the index of its definition.
    Complex(usize),
    /// Any resource, by its own `resourceType` (`contained`, a Bundle entry's `resource`).
    Resource,
}

/// One element of a type.
#[derive(Debug)]
pub(crate) struct El {
    /// Its name (`value` for `value[x]`).
    pub(crate) name: String,
    /// Whether it is a choice (`value[x]`), named in JSON by name and type.
    pub(crate) choice: bool,
    /// At least one is required.
    pub(crate) required: bool,
    /// An array.
    pub(crate) many: bool,
    /// Its required code set, for a `code`.
    pub(crate) codes: Option<Vec<String>>,
}

/// A resource, data type or backbone element.
#[derive(Debug)]
pub(crate) struct Def {
    /// Its name (`Patient`, `HumanName`, `Patient.contact`).
    pub(crate) name: String,
    pub(crate) elements: Vec<El>,
    /// A resource (not a data type or backbone element).
    pub(crate) resource: bool,
    /// A JSON key (`valueQuantity`, `gender`) to its element and type.
    keys: HashMap<String, (usize, Ty), rustc_hash::FxBuildHasher>,
}

impl Def {
    /// The element a JSON key names (its place among the elements, and itself), and the type
    /// it is given in.
    pub(crate) fn key(&self, key: &str) -> Option<(usize, &El, Ty)> {
        self.keys.get(key).map(|(n, ty)| (*n, &self.elements[*n], *ty))
    }
}

/// Every definition of R4.
#[derive(Debug)]
pub(crate) struct Model {
    defs: Vec<Def>,
    by_name: HashMap<String, usize>,
}

impl Model {
    /// The model, read at first use.
    pub(crate) fn get() -> &'static Model {
        static MODEL: LazyLock<Model> = LazyLock::new(|| {
            Model::load(include_str!("r4.json")).expect("r4.json is the generator's output")
        });
        &MODEL
    }

    /// The resource type of that name.
    pub(crate) fn resource(&self, name: &str) -> Option<&Def> {
        let def = &self.defs[*self.by_name.get(name)?];
        def.resource.then_some(def)
    }

    /// Element's definition: what a primitive's extensions (`_birthDate`) hold.
    pub(crate) fn element(&self) -> &Def {
        &self.defs[self.by_name["Element"]]
    }

    /// The definition at `index`.
    pub(crate) fn def(&self, index: usize) -> &Def {
        &self.defs[index]
    }

    fn load(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct File {
            types: HashMap<String, TypeFile>,
            #[serde(rename = "valueSets")]
            value_sets: HashMap<String, Vec<String>>,
        }
        #[derive(Deserialize)]
        struct TypeFile {
            kind: String,
            elements: Vec<ElementFile>,
        }
        #[derive(Deserialize)]
        struct ElementFile(String, Vec<String>, u64, u8, #[serde(default)] Option<String>);

        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut names: Vec<&String> = file.types.keys().collect();
        names.sort();
        let by_name: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(n, name)| ((*name).clone(), n))
            .collect();
        let ty_of = |name: &str| -> Result<Ty, String> {
            if name == "Resource" {
                return Ok(Ty::Resource);
            }
            if let Some(p) = Prim::from_name(name) {
                return Ok(Ty::Prim(p));
            }
            by_name
                .get(name)
                .map(|n| Ty::Complex(*n))
                .ok_or_else(|| format!("the type {name} is not defined"))
        };
        let mut defs = Vec::with_capacity(names.len());
        for name in names {
            let t = &file.types[name];
            let mut elements = Vec::with_capacity(t.elements.len());
            let mut keys = HashMap::default();
            for (n, ElementFile(el_name, types, min, many, value_set)) in t.elements.iter().enumerate() {
                let (base, choice) = match el_name.strip_suffix("[x]") {
                    Some(base) => (base.to_owned(), true),
                    None => (el_name.clone(), false),
                };
                for type_name in types {
                    let key = if choice {
                        let mut chars = type_name.chars();
                        let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
                        format!("{base}{first}{}", chars.as_str())
                    } else {
                        base.clone()
                    };
                    keys.insert(key, (n, ty_of(type_name)?));
                }
                let codes = match value_set {
                    Some(url) => Some(
                        file.value_sets
                            .get(url)
                            .cloned()
                            .ok_or_else(|| format!("the value set {url} is missing"))?,
                    ),
                    None => None,
                };
                elements.push(El {
                    name: base,
                    choice,
                    required: *min > 0,
                    many: *many == 1,
                    codes,
                });
            }
            defs.push(Def {
                name: name.clone(),
                elements,
                resource: t.kind == "resource",
                keys,
            });
        }
        Ok(Self { defs, by_name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_holds_all_of_r4() {
        let model = Model::get();
        let patient = model.resource("Patient").unwrap();
        let (_, contact, _) = patient.key("contact").unwrap();
        assert!(contact.many);
        let (_, gender, ty) = patient.key("gender").unwrap();
        assert!(matches!(ty, Ty::Prim(Prim::Code)));
        assert_eq!(
            gender.codes.as_deref().unwrap(),
            ["female", "male", "other", "unknown"]
        );
        let (_, deceased, ty) = patient.key("deceasedDateTime").unwrap();
        assert!(deceased.choice && matches!(ty, Ty::Prim(Prim::DateTime)));
        for name in [
            "Encounter",
            "Immunization",
            "DiagnosticReport",
            "DocumentReference",
            "Claim",
            "ExplanationOfBenefit",
            "Bundle",
            "Binary",
            "Parameters",
        ] {
            assert!(model.resource(name).is_some(), "{name}");
        }
        assert!(model.resource("HumanName").is_none());
        assert!(model.resource("Patient.contact").is_none());
    }
}
