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

/// What an entry's content says, in two lines: what (a code or a medication) and the detail.
pub(crate) fn summary(content: Option<&serde_json::Value>) -> (String, String) {
    let Some(c) = content else {
        return ("(does not decrypt)".into(), String::new());
    };
    let text = |path: &[&str]| -> Option<String> {
        let mut v = c;
        for p in path {
            v = match p.parse::<usize>() {
                Ok(i) => v.get(i)?,
                Err(_) => v.get(p)?,
            };
        }
        v.as_str().map(str::to_owned)
    };
    let what = text(&["code", "text"])
        .or_else(|| text(&["medicationCodeableConcept", "text"]))
        .or_else(|| text(&["name", "0", "text"]))
        .unwrap_or_default();
    let detail = text(&["note", "0", "text"])
        .or_else(|| text(&["dosage", "0", "text"]))
        .or_else(|| text(&["valueString"]))
        .or_else(|| text(&["birthDate"]).map(|b| format!("born {b}")))
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
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_500_000_000), "2026-11-24 06:00 UTC");
    }
}
