//! Dates and times, on jiff: the instants sign-in messages carry (RFC 3339), and how a page prints
//! a moment. Every calendar rule (month lengths, leap years, offsets) is jiff's; this module only
//! fixes the formats MedLedger speaks.

use jiff::Timestamp;

/// Now, in Unix seconds.
pub fn now_secs() -> u64 {
    u64::try_from(Timestamp::now().as_second()).unwrap_or(0)
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-24T13:09:49Z`), as SIWE messages carry them.
pub fn rfc3339(secs: u64) -> String {
    match Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX)) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "9999-12-31T23:59:59Z".into(),
    }
}

/// Parses an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, a real moment) to Unix
/// seconds; `None` for anything else (another shape, an impossible day, before 1970).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    // RFC 3339's shape exactly (jiff alone would also take a space for the `T`, or no offset).
    let b = text.as_bytes();
    let shaped = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && (matches!(b[b.len() - 1], b'Z' | b'z') || matches!(b[b.len() - 6], b'+' | b'-'));
    if !shaped {
        return None;
    }
    let t: Timestamp = text.parse().ok()?;
    u64::try_from(t.as_second()).ok()
}

/// Unix milliseconds as an HTTP date (RFC 9110's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`),
/// as `Last-Modified` carries it.
pub fn http_date(ms: u64) -> String {
    match Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)) {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        Err(_) => "Fri, 31 Dec 9999 23:59:59 GMT".into(),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`, as pages show a moment.
pub fn utc_minutes(ms: u64) -> String {
    match Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => "(out of range)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_print_and_parse_back() {
        for secs in [0, 951_782_400, 1_795_626_631] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs));
        }
        assert_eq!(rfc3339(1_795_626_631), "2026-11-25T17:10:31Z");
        assert_eq!(parse_rfc3339("2026-11-25T18:10:31+01:00"), Some(1_795_626_631));
        assert_eq!(parse_rfc3339("2026-11-25T17:10:31.500Z"), Some(1_795_626_631));
        assert_eq!(utc_minutes(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn impossible_or_misshapen_moments_are_refused() {
        for bad in [
            "2025-02-30T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-02-28 10:00:00Z",
            "2023-02-28T10:00:00",
            "2023-02-28T25:00:00Z",
            "1969-12-31T23:59:59Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
