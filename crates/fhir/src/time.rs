//! FHIR's date and time formats, checked against the calendar: `1981-02-30` is refused.
//!
//! - date: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`;
//! - dateTime: a date, or a full date with `Thh:mm:ss[.fraction]` and a zone (`Z` or `±hh:mm`);
//! - instant: a dateTime with its time and zone;
//! - time: `hh:mm:ss[.fraction]`.
//!
//! The grammar (FHIR's partial dates and their precision) is here; the calendar (month lengths,
//! leap years, days since the epoch) is jiff's.

/// How precisely a date or dateTime was given, and the span it covers, in milliseconds since the
/// Unix epoch (UTC): `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first millisecond it covers.
    pub start: i64,
    /// The first millisecond after it.
    pub end: i64,
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// Milliseconds from the Unix epoch to the start of a civil day, if it is a real day.
fn day_start(year: i64, month: u32, day: u32) -> Option<i64> {
    let date = jiff::civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    let days = date.since(jiff::civil::date(1970, 1, 1)).ok()?.get_days();
    Some(i64::from(days) * DAY_MS)
}

/// Whether `day` is a day of `month` in `year`.
fn real_day(year: u32, month: u32, day: u32) -> bool {
    day_start(i64::from(year), month, day).is_some()
}

const DAY_MS: i64 = 86_400_000;

/// Checks a date, returning the span it covers.
pub fn date(text: &str) -> Result<Span, String> {
    let bad = || format!("{text:?} is not a date (YYYY, YYYY-MM or YYYY-MM-DD, a real day)");
    let parts: Vec<&str> = text.split('-').collect();
    let year = parts.first().and_then(|y| digits(y, 4)).ok_or_else(bad)?;
    if year == 0 {
        return Err(bad());
    }
    let month = match parts.get(1) {
        None => None,
        Some(m) => Some(digits(m, 2).filter(|m| (1..=12).contains(m)).ok_or_else(bad)?),
    };
    let day = match (month, parts.get(2)) {
        (_, None) => None,
        (Some(m), Some(d)) => Some(digits(d, 2).filter(|d| real_day(year, m, *d)).ok_or_else(bad)?),
        (None, Some(_)) => return Err(bad()),
    };
    if parts.len() > 3 {
        return Err(bad());
    }
    let y = i64::from(year);
    let start_of = |y: i64, m: u32, d: u32| day_start(y, m, d).ok_or_else(bad);
    Ok(match (month, day) {
        (None, _) => Span {
            start: start_of(y, 1, 1)?,
            end: start_of(y + 1, 1, 1)?,
        },
        (Some(m), None) => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Span {
                start: start_of(y, m, 1)?,
                end: start_of(ny, nm, 1)?,
            }
        }
        (Some(m), Some(d)) => {
            let start = start_of(y, m, d)?;
            Span {
                start,
                end: start + DAY_MS,
            }
        }
    })
}

/// Checks `hh:mm:ss[.fraction]`, returning milliseconds since midnight and the precision's width.
fn clock(text: &str) -> Option<(i64, i64)> {
    let (hms, fraction) = match text.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (hms, Some(f)),
        Some(_) => return None,
        None => (text, None),
    };
    let mut it = hms.split(':');
    let h = digits(it.next()?, 2).filter(|h| *h < 24)?;
    let m = digits(it.next()?, 2).filter(|m| *m < 60)?;
    let s = digits(it.next()?, 2).filter(|s| *s < 60)?;
    if it.next().is_some() {
        return None;
    }
    let ms = fraction.map_or(0, |f| {
        let f3: String = f.chars().chain("000".chars()).take(3).collect();
        f3.parse::<i64>().unwrap_or(0)
    });
    let width = if fraction.is_some() { 1 } else { 1000 };
    Some((
        (i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * 1000 + ms,
        width,
    ))
}

/// Checks a time of day.
pub fn time(text: &str) -> Result<(), String> {
    clock(text)
        .map(|_| ())
        .ok_or_else(|| format!("{text:?} is not a time (hh:mm:ss, a real time)"))
}

/// Checks a dateTime, returning the span it covers.
pub fn date_time(text: &str) -> Result<Span, String> {
    let Some((day, rest)) = text.split_once('T') else {
        return date(text).map_err(|_| {
            format!("{text:?} is not a dateTime (a date, or YYYY-MM-DDThh:mm:ss with Z or ±hh:mm)")
        });
    };
    let bad =
        || format!("{text:?} is not a dateTime (YYYY-MM-DDThh:mm:ss[.fff] then Z or ±hh:mm, a real time)");
    if day.len() != 10 {
        return Err(bad());
    }
    let span = date(day).map_err(|_| bad())?;
    let (clock_text, offset_ms) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (c, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = zone[1..].split_once(':').ok_or_else(bad)?;
        let zh = digits(zh, 2).filter(|h| *h <= 14).ok_or_else(bad)?;
        let zm = digits(zm, 2).filter(|m| *m < 60).ok_or_else(bad)?;
        (c, sign * (i64::from(zh) * 3600 + i64::from(zm) * 60) * 1000)
    };
    let (ms, width) = clock(clock_text).ok_or_else(bad)?;
    let start = span.start + ms - offset_ms;
    Ok(Span {
        start,
        end: start + width,
    })
}

/// Checks an instant: a dateTime with time and zone.
pub fn instant(text: &str) -> Result<Span, String> {
    if !text.contains('T') {
        return Err(format!(
            "{text:?} is not an instant (YYYY-MM-DDThh:mm:ss[.fff] then Z or ±hh:mm)"
        ));
    }
    date_time(text)
}

/// An instant for milliseconds since the Unix epoch, in UTC with milliseconds:
/// `2026-11-24T17:10:31.000Z`.
pub fn instant_of_ms(ms: u64) -> String {
    match jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string(),
        Err(_) => "9999-12-31T23:59:59.999Z".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            "1981-02-30",
            "1900-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-1-01",
            "0000",
            "20230101",
            "",
            "2023-04-31",
            "2023-02-28T25:00:00Z",
            "2023-02-28T10:00:00",
            "2023-02-28T10:00Z",
            "2023-02-28T10:00:00+15:00",
            "2023-02-28T10:60:00Z",
            "2023-02-28T10:00:00.Z",
        ] {
            assert!(date_time(bad).is_err(), "{bad} passed");
        }
        for good in [
            "2000-02-29",
            "1981",
            "1981-02",
            "2023-02-28T10:00:00Z",
            "2023-02-28T10:00:00.123+02:00",
            "2023-02-28T23:59:59-05:30",
        ] {
            assert!(date_time(good).is_ok(), "{good} refused");
        }
        assert!(instant("2023-02-28").is_err());
        assert!(date("2023-02-28T10:00:00Z").is_err());
        assert!(time("24:00:00").is_err() && time("08:30:00").is_ok());
    }

    #[test]
    fn spans_cover_what_the_precision_says() {
        let year = date("1970").unwrap();
        assert_eq!((year.start, year.end), (0, 365 * DAY_MS));
        let feb = date("2000-02").unwrap();
        assert_eq!(feb.end - feb.start, 29 * DAY_MS);
        let t = date_time("1970-01-01T01:00:00+01:00").unwrap();
        assert_eq!((t.start, t.end), (0, 1000));
    }

    #[test]
    fn instants_print_and_parse_back() {
        for ms in [0u64, 951_782_400_000, 1_795_626_631_123] {
            let text = instant_of_ms(ms);
            assert_eq!(instant(&text).unwrap().start, ms as i64, "{text}");
        }
        assert_eq!(instant_of_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
