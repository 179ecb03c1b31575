//! Request bodies parsed strictly. `serde_json` keeps the last of two equal keys and says nothing;
//! a FHIR server must refuse such a document, because two systems could read it differently.
//! Nesting is bounded by `serde_json`'s recursion limit (128 levels).

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::outcome::{IssueCode, Outcome};

/// Parses `body` as one JSON document, refusing duplicate keys and anything after the document.
/// Numbers keep their digits as sent (`1.50` stays `1.50`: FHIR decimals carry their precision;
/// serde_json's `arbitrary_precision`).
pub fn parse(body: &[u8]) -> crate::Result<Value> {
    let refuse = |e: serde_json::Error| {
        let what = if e.to_string().starts_with("recursion limit") {
            format!("the body nests too deeply: {e}")
        } else {
            format!("the body is not one valid JSON document: {e}")
        };
        Outcome::one(IssueCode::Structure, what)
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    Unique::deserialize(&mut de)
        .and_then(|Unique| de.end())
        .map_err(refuse)?;
    serde_json::from_slice(body).map_err(refuse)
}

/// A pass over a document that builds nothing and fails on an object with a key twice.
struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut keys: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            map.next_value::<Unique>()?;
            if keys.contains(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            keys.insert(key);
        }
        Ok(Unique)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn duplicate_keys_are_refused_wherever_they_are() {
        assert!(parse(br#"{"a":1,"b":{"c":1,"c":2}}"#).is_err());
        let err = parse(br#"{"a":1,"a":1}"#).unwrap_err();
        assert!(err.to_string().contains("\"a\" appears twice"), "{err}");
        assert!(parse(br#"{"a":1,"b":[{"c":1},{"c":2}]}"#).is_ok());
    }

    #[test]
    fn deep_nesting_and_trailing_content_are_refused() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = parse(deep.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("nests too deeply"), "{err}");
        assert!(parse(br#"{"a":1} {"b":2}"#).is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn numbers_keep_their_digits() {
        let body = br#"{"a":1.50,"b":0.010,"c":[100,-2.0e+3,12345678901234567890.123]}"#;
        let value = parse(body).unwrap();
        assert_eq!(serde_json::to_vec(&value).unwrap(), body.to_vec());
    }
}
