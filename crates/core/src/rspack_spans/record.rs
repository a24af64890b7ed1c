//! One line of Rspack's logger layer (tracing-subscriber's JSON format, as the 2.2.7 and 2.3.2
//! bindings write it) read as a span on the monotonic clock:
//!
//! ```text
//! {"timestamp":"2026-12-06T12:13:07.905838Z","level":"INFO","fields":{"message":"close",
//!  "time.busy":"1.48ms","time.idle":"846ns"},"target":"rspack_plugin_javascript::plugin::flag_dependency_exports_plugin",
//!  "span":{"name":"FlagDependencyExportsPlugin:finish_modules",...},"spans":[{"name":"Compiler:build"},...]}
//! ```
//!
//! The line is written when the span closes, so its timestamp (realtime, µs) is the end; the start
//! is the end less busy and idle time (three significant digits each, so a start is off by at most
//! 0.5% of the span's length).

use serde::Deserialize;

/// A closed Rspack span, on CLOCK_MONOTONIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanRecord {
    /// The span's name, e.g. `SplitChunksPlugin:optimize_chunks`.
    pub name: String,
    /// The tracing target (the Rust module that opened it).
    pub target: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Names of the spans it is nested in, outermost first.
    pub parents: Vec<String>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    timestamp: &'a str,
    #[serde(default)]
    fields: Fields<'a>,
    #[serde(default)]
    target: String,
    span: Option<Named>,
    #[serde(default)]
    spans: Vec<Named>,
}

#[derive(Deserialize, Default)]
struct Fields<'a> {
    #[serde(borrow)]
    message: Option<&'a str>,
    #[serde(rename = "time.busy", borrow)]
    busy: Option<&'a str>,
    #[serde(rename = "time.idle", borrow)]
    idle: Option<&'a str>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

/// The span a logger line closes, or None for any other line (events, damaged text).
/// `realtime_minus_monotonic_ns` maps the line's wall-clock timestamp to the monotonic clock.
pub fn parse_line(line: &[u8], realtime_minus_monotonic_ns: i128) -> Option<SpanRecord> {
    let line: Line = serde_json::from_slice(line).ok()?;
    if line.fields.message != Some("close") {
        return None;
    }
    let span = line.span?;
    let end_unix_ns = parse_rfc3339_utc(line.timestamp)?;
    let length_ns = parse_duration_ns(line.fields.busy?)? + line.fields.idle.map_or(Some(0), parse_duration_ns)?;
    let end_ns = u64::try_from(end_unix_ns as i128 - realtime_minus_monotonic_ns).ok()?;
    Some(SpanRecord {
        name: span.name,
        target: line.target,
        start_ns: end_ns.saturating_sub(length_ns),
        end_ns,
        parents: line.spans.into_iter().map(|s| s.name).collect(),
    })
}

/// tracing-subscriber's timing text: a decimal number and `ns`, `µs`, `ms` or `s`.
pub fn parse_duration_ns(text: &str) -> Option<u64> {
    let (number, scale) = [("ns", 1.0), ("µs", 1e3), ("us", 1e3), ("ms", 1e6), ("s", 1e9)]
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, *scale)))?;
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * scale).round() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` as ns since the Unix epoch. By hand because it is the one fixed
/// format the logger writes and no crate of the dependency tree parses dates.
pub fn parse_rfc3339_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { text.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)? as i64, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let fraction = &text[19..text.len() - 1];
    let fraction_ns = match fraction.strip_prefix('.') {
        None if fraction.is_empty() => 0,
        Some(digits) if (1..=9).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit()) => {
            digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as i64, day as i64);
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1_000_000_000 + fraction_ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The logger's timestamp text for `unix_ns` (µs), for tests that write records.
#[cfg(test)]
pub(crate) fn format_rfc3339_utc(unix_ns: u64) -> String {
    // Howard Hinnant's `civil_from_days`.
    let secs = unix_ns / 1_000_000_000;
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = secs % 86_400;
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z", rem / 3600, rem / 60 % 60, rem % 60, unix_ns / 1000 % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as the 2.3.2 release binding wrote them for a react build (saved from a real run).
    const CLOSE: &str = r#"{"timestamp":"2026-12-06T12:13:07.905838Z","level":"INFO","fields":{"message":"close","time.busy":"1.48ms","time.idle":"846ns"},"target":"rspack_plugin_javascript::plugin::flag_dependency_exports_plugin","span":{"perfetto.process_name":"Plugin Analysis","perfetto.track_name":"FlagDependencyExportsPlugin","name":"FlagDependencyExportsPlugin:finish_modules"},"spans":[{"name":"Compiler:build"},{"name":"Compiler:compile"},{"name":"Compilation:finish_modules_inner"},{"name":"hook:CompilationFinishModules"}]}"#;
    const EVENT: &str = r#"{"timestamp":"2026-12-06T12:13:07.618295Z","level":"INFO","fields":{"version":"2.3.2"},"target":"rspack_binding_api"}"#;

    #[test]
    fn a_close_line_is_a_span_ending_at_its_timestamp() {
        let end_unix = parse_rfc3339_utc("2026-12-06T12:13:07.905838Z").unwrap();
        // Monotonic = realtime - offset.
        let offset = end_unix as i128 - 5_000_000_000;
        let span = parse_line(CLOSE.as_bytes(), offset).unwrap();
        assert_eq!(span.name, "FlagDependencyExportsPlugin:finish_modules");
        assert_eq!(span.target, "rspack_plugin_javascript::plugin::flag_dependency_exports_plugin");
        assert_eq!(span.end_ns, 5_000_000_000);
        assert_eq!(span.start_ns, 5_000_000_000 - 1_480_000 - 846);
        assert_eq!(span.parents, ["Compiler:build", "Compiler:compile", "Compilation:finish_modules_inner", "hook:CompilationFinishModules"]);
    }

    #[test]
    fn events_and_damaged_lines_are_not_spans() {
        assert_eq!(parse_line(EVENT.as_bytes(), 0), None);
        assert_eq!(parse_line(&CLOSE.as_bytes()[..80], 0), None);
        assert_eq!(parse_line(b"", 0), None);
        assert_eq!(parse_line(CLOSE.replace("\"close\"", "\"new\"").as_bytes(), 0), None);
        // A timestamp before the monotonic clock's zero cannot be placed.
        assert_eq!(parse_line(CLOSE.as_bytes(), i128::MAX / 2), None);
    }

    #[test]
    fn timestamps_are_unix_nanoseconds() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_utc("2000-03-01T00:00:00.5Z"), Some(951_868_800_500_000_000));
        assert_eq!(parse_rfc3339_utc("2026-12-06T12:13:07.905838Z"), Some(1_796_559_187_905_838_000));
        for unix_ns in [0, 951_868_800_500_000_000, 1_796_559_187_905_838_000, 4_107_542_399_999_999_000] {
            assert_eq!(parse_rfc3339_utc(&format_rfc3339_utc(unix_ns)), Some(unix_ns));
        }
        for bad in ["2026-12-06 12:13:07Z", "2026-13-06T12:13:07Z", "2026-12-06T12:13:07.Z", "2026-12-06T12:13:07+01:00", "x"] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_in_each_unit() {
        assert_eq!(parse_duration_ns("716ns"), Some(716));
        assert_eq!(parse_duration_ns("27.7µs"), Some(27_700));
        assert_eq!(parse_duration_ns("1.48ms"), Some(1_480_000));
        assert_eq!(parse_duration_ns("1.20s"), Some(1_200_000_000));
        assert_eq!(parse_duration_ns("fast"), None);
        assert_eq!(parse_duration_ns("-1ms"), None);
    }
}
