//! The pages' building blocks, as maud markup (which escapes every value it is given, so that
//! nothing a user typed or the store holds is ever markup): tables, the forms `wallet.js` sends to
//! the API, labelled inputs; and how dates, expiries and entries read on a page.

use maud::{Markup, html};

/// `0x1234…cdef`: an address or hash, shortened for a table (the full value goes in `title`).
pub(crate) fn short(text: &str) -> String {
    if text.len() <= 14 {
        return text.to_owned();
    }
    format!("{}…{}", &text[..6], &text[text.len() - 4..])
}

/// An address or hash in a table: shortened, the whole of it in its title.
pub(crate) fn code(text: &str) -> Markup {
    html! { code title=(text) { (short(text)) } }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(ms: u64) -> String {
    medledger_core::calendar::utc_minutes(ms)
}

/// An expiry in Unix seconds, as people read it.
pub(crate) fn until(secs: u64) -> String {
    match secs {
        0 => "none".into(),
        u64::MAX => "until revoked".into(),
        s if s >= 1 << 62 => "until revoked".into(),
        s => format!("until {}", utc(s.saturating_mul(1000))),
    }
}

/// A table with a caption and a header row.
pub(crate) struct Table {
    caption: String,
    head: Vec<&'static str>,
    rows: Vec<(&'static str, Vec<Markup>)>,
}

impl Table {
    pub(crate) fn new(caption: &str, head: &[&'static str]) -> Self {
        Self {
            caption: caption.to_owned(),
            head: head.to_vec(),
            rows: vec![],
        }
    }

    /// Adds a row; `class` styles it (for example `emergency`).
    pub(crate) fn row(&mut self, class: &'static str, cells: Vec<Markup>) {
        self.rows.push((class, cells));
    }

    /// The table, or `empty` in words when it has no rows.
    pub(crate) fn render(&self, empty: &str) -> Markup {
        if self.rows.is_empty() {
            return html! { p.empty { (empty) } };
        }
        html! {
            // Focusable, so that a keyboard can scroll a table wider than a phone's screen.
            div.scroll tabindex="0" role="region" aria-label=(self.caption) {
                table {
                    caption { (self.caption) }
                    thead { tr { @for h in &self.head { th scope="col" { (h) } } } }
                    tbody {
                        @for (class, cells) in &self.rows {
                            tr class=(class) { @for c in cells { td { (c) } } }
                        }
                    }
                }
            }
        }
    }
}

/// A form that `wallet.js` sends to the API: `method` `url`, body built by `build` (see
/// wallet.js), then signed by the wallet if the API asks for a signature.
pub(crate) fn api_form(method: &str, url: &str, build: &str, fields: Markup, submit: &str) -> Markup {
    html! {
        form.api data-method=(method) data-url=(url) data-build=(build) {
            (fields)
            button type="submit" { (submit) }
        }
    }
}

/// A labelled input and what it takes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Input<'a> {
    pub(crate) name: &'a str,
    pub(crate) label: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) required: bool,
    pub(crate) maxlength: Option<u32>,
    pub(crate) pattern: Option<&'a str>,
    pub(crate) min: Option<u32>,
    pub(crate) max: Option<u32>,
    pub(crate) value: Option<&'a str>,
    /// `autocomplete="off"` (for what a browser must not offer to fill in: a patient's details).
    pub(crate) private: bool,
}

impl Input<'_> {
    /// The label and the input.
    pub(crate) fn render(&self) -> Markup {
        let id = format!("f-{}", self.name);
        html! {
            label for=(id) { (self.label) }
            input id=(id) name=(self.name) type=(self.kind) required[self.required]
                maxlength=[self.maxlength] pattern=[self.pattern] min=[self.min] max=[self.max]
                value=[self.value] autocomplete=[self.private.then_some("off")];
        }
    }
}

/// A CodeableConcept in words: its text, else its first coding's display, else its code.
fn concept(c: &serde_json::Value) -> Option<String> {
    let coding = &c["coding"][0];
    c["text"]
        .as_str()
        .or_else(|| coding["display"].as_str())
        .or_else(|| coding["code"].as_str())
        .map(str::to_owned)
}

/// A Patient's first name in words: its text, else its given names and family name.
pub(crate) fn person_name(patient: &serde_json::Value) -> Option<String> {
    let name = &patient["name"][0];
    if let Some(text) = name["text"].as_str() {
        return Some(text.to_owned());
    }
    let mut words: Vec<&str> = name["given"]
        .as_array()
        .map(|g| g.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    words.extend(name["family"].as_str());
    (!words.is_empty()).then(|| words.join(" "))
}

/// What an entry's content says, in two lines: what (a code or a medication) and the detail.
pub(crate) fn summary(content: Option<&serde_json::Value>) -> (String, String) {
    let Some(c) = content else {
        return ("(does not decrypt)".into(), String::new());
    };
    // What the resource is about: the first of the elements the chart's resource types name it by
    // (a Condition's code, an Immunization's vaccine, an Encounter's type, a Goal's description).
    let what = [
        "code",
        "medicationCodeableConcept",
        "vaccineCode",
        "type",
        "description",
        "codeCodeableConcept",
        "procedureCode",
        "category",
        "relationship",
    ]
    .iter()
    .find_map(|name| {
        let element = &c[*name];
        concept(element).or_else(|| concept(&element[0]))
    })
    .or_else(|| person_name(c))
    .or_else(|| c["name"].as_str().map(str::to_owned))
    .unwrap_or_default();
    let quantity = &c["valueQuantity"];
    let detail = c["note"][0]["text"]
        .as_str()
        .or_else(|| c["dosage"][0]["text"].as_str())
        .or_else(|| c["valueString"].as_str())
        .map(str::to_owned)
        .or_else(|| {
            let value = quantity["value"].as_number()?;
            Some(
                format!("{value} {}", quantity["unit"].as_str().unwrap_or(""))
                    .trim_end()
                    .to_owned(),
            )
        })
        .or_else(|| {
            c["valueCodeableConcept"]
                .as_object()
                .and_then(|_| concept(&c["valueCodeableConcept"]))
        })
        .or_else(|| c["birthDate"].as_str().map(|b| format!("born {b}")))
        .or_else(|| c["status"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (what, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_whatever_they_hold() {
        let mut table = Table::new("A <caption>", &["Name"]);
        table.row("", vec![html! { (r#"<a href="x">'&'</a>"#) }]);
        let out = table.render("").into_string();
        assert!(
            out.contains("&lt;a href=&quot;x&quot;&gt;'&amp;'&lt;/a&gt;"),
            "{out}"
        );
        assert!(out.contains("A &lt;caption&gt;"), "{out}");
        let field = Input {
            name: "n",
            label: "<b>",
            kind: "text",
            value: Some(r#""><script>"#),
            ..Input::default()
        };
        let out = field.render().into_string();
        assert!(!out.contains("<script>") && !out.contains("<b>"), "{out}");
    }

    #[test]
    fn entries_written_by_other_systems_are_summarised_too() {
        let observation = serde_json::json!({
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
            "valueQuantity": {"value": 120, "unit": "mmHg"},
        });
        assert_eq!(
            summary(Some(&observation)),
            ("Systolic blood pressure".to_owned(), "120 mmHg".to_owned())
        );
        let patient = serde_json::json!({"name": [{"family": "Hopper", "given": ["Grace", "B."]}], "birthDate": "1906-12-09"});
        assert_eq!(
            summary(Some(&patient)),
            ("Grace B. Hopper".to_owned(), "born 1906-12-09".to_owned())
        );
        let ui = serde_json::json!({"code": {"text": "Asthma"}, "note": [{"text": "mild"}]});
        assert_eq!(summary(Some(&ui)), ("Asthma".to_owned(), "mild".to_owned()));
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_500_000_000), "2026-11-24 06:00 UTC");
    }
}
