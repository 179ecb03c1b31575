//! What a client saw during the story, step by step, and how two such records compare.

use serde_json::Value;

/// What a client saw, step by step, and which expectations did not hold.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    seen: Vec<(String, Value)>,
    estimates: Vec<(String, u64)>,
    unmet: Vec<String>,
}

impl Transcript {
    /// Records what the client saw at `step`; it must be the same on both chains.
    pub(crate) fn saw(&mut self, step: impl Into<String>, what: Value) {
        self.seen.push((step.into(), normalized(what)));
    }

    /// Records an expectation that must hold on any correct chain.
    pub(crate) fn expect(&mut self, holds: bool, what: impl Into<String>) {
        if !holds {
            self.unmet.push(what.into());
        }
    }

    /// Records the gas `step` was estimated to need; the chains may differ a little.
    pub(crate) fn estimated(&mut self, step: &str, gas: u64) {
        self.estimates.push((step.to_owned(), gas));
    }

    /// The expectations that did not hold.
    pub(crate) fn unmet(&self) -> &[String] {
        &self.unmet
    }

    /// Steps whose observations differ from `other`'s, and estimates more than 25% apart.
    pub(crate) fn differences(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, ((step, want), (other_step, got))) in self.seen.iter().zip(&other.seen).enumerate() {
            if step != other_step {
                out.push(format!(
                    "step {i}: anvil was at {step:?}, medledger at {other_step:?}"
                ));
                break;
            }
            if want != got {
                out.push(format!("{step}:\n  anvil:     {want}\n  medledger: {got}"));
            }
        }
        if self.seen.len() > other.seen.len() {
            let (missed, _) = &self.seen[other.seen.len()];
            out.push(format!("medledger's story ended before step {missed:?}"));
        }
        for ((step, want), (_, got)) in self.estimates.iter().zip(&other.estimates) {
            if want.abs_diff(*got) > want / 4 {
                out.push(format!("{step}: estimated {got} gas, anvil {want}"));
            }
        }
        out
    }
}

/// Addresses and hex compared case-insensitively: clients parse either.
fn normalized(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(text.to_lowercase()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalized).collect()),
        Value::Object(fields) => fields
            .into_iter()
            .map(|(key, value)| (key, normalized(value)))
            .collect(),
        other => other,
    }
}

/// `value`'s `fields` only (missing ones as null): the parts both chains must agree on.
pub(crate) fn pick(value: &Value, fields: &[&str]) -> Value {
    fields
        .iter()
        .map(|&field| (field.to_owned(), value.get(field).cloned().unwrap_or(Value::Null)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The parts of a log that do not depend on block hashes or transaction fees.
pub(crate) fn log_view(log: &Value) -> Value {
    let fields = [
        "address",
        "topics",
        "data",
        "blockNumber",
        "transactionIndex",
        "logIndex",
        "removed",
    ];
    pick(log, &fields)
}
