//! Small HTML helpers: escaping, dates, tables, and the forms `wallet.js` sends to the API.

/// Escapes text for HTML content and double-quoted attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `0x1234…cdef`: an address or hash, shortened for a table (the full value goes in `title`).
pub(crate) fn short(text: &str) -> String {
    if text.len() <= 14 {
        return text.to_owned();
    }
    format!("{}…{}", &text[..6], &text[text.len() - 4..])
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, d) = medledger_core::siwe::civil_date((secs / 86_400) as i64);
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    format!("{year:04}-{month:02}-{d:02} {h:02}:{m:02} UTC")
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

/// A table with a caption and a header row; cells are HTML (escape them first).
pub(crate) struct Table {
    caption: String,
    head: Vec<&'static str>,
    rows: Vec<(String, Vec<String>)>,
}

impl Table {
    pub(crate) fn new(caption: &str, head: &[&'static str]) -> Self {
        Self {
            caption: esc(caption),
            head: head.to_vec(),
            rows: vec![],
        }
    }

    /// Adds a row; `class` styles it (for example `emergency`).
    pub(crate) fn row(&mut self, class: &str, cells: Vec<String>) {
        self.rows.push((class.to_owned(), cells));
    }

    pub(crate) fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!(r#"<p class="empty">{}</p>"#, esc(empty));
        }
        let head: String = self
            .head
            .iter()
            .map(|h| format!(r#"<th scope="col">{h}</th>"#))
            .collect();
        let rows: String = self
            .rows
            .iter()
            .map(|(class, cells)| {
                let cells: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
                format!(r#"<tr class="{}">{cells}</tr>"#, esc(class))
            })
            .collect();
        format!(
            // Focusable, so that a keyboard can scroll a table wider than a phone's screen.
            r#"<div class="scroll" tabindex="0" role="region" aria-label="{c}"><table><caption>{c}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"#,
            c = self.caption
        )
    }
}

/// A form that `wallet.js` sends to the API: `method` `url`, body built by `build` (see
/// wallet.js), then signed by the wallet if the API asks for a signature.
pub(crate) fn api_form(method: &str, url: &str, build: &str, fields: &str, submit: &str) -> String {
    format!(
        r#"<form class="api" data-method="{method}" data-url="{url}" data-build="{build}">{fields}<button type="submit">{submit}</button></form>"#,
        method = esc(method),
        url = esc(url),
        build = esc(build),
        submit = esc(submit),
    )
}

/// A labelled input.
pub(crate) fn input(name: &str, label: &str, kind: &str, extra: &str) -> String {
    let id = format!("f-{name}");
    format!(
        r#"<label for="{id}">{label}</label><input id="{id}" name="{name}" type="{kind}" {extra}>"#,
        label = esc(label)
    )
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
    let what = concept(&c["code"])
        .or_else(|| concept(&c["medicationCodeableConcept"]))
        .or_else(|| person_name(c))
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
        .unwrap_or_default();
    (what, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
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
