//! Parsing of the sizes and durations users type (`4k`, `1m`, `5s`, `500ms`).

use std::time::Duration;

/// A size or duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Parses a byte size: plain bytes (`1500`), or `k`/`m`/`g` suffixes meaning powers of 1024
/// (`4k` = 4096, `1m` = 1048576; `kib`/`KiB` are accepted too). Zero is refused.
pub fn parse_size(text: &str) -> Result<usize, ParseError> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, multiplier) = [("kib", 1usize << 10), ("mib", 1 << 20), ("gib", 1 << 30)]
        .into_iter()
        .chain([("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)])
        .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|d| (d.trim(), m)))
        .unwrap_or((lower.as_str(), 1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError(format!(
            "'{t}' is not a size: give bytes (1500) or a number with k, m or g (4k = 4096 bytes)"
        )));
    }
    let n: usize = digits
        .parse()
        .map_err(|_| ParseError(format!("'{t}' is too large")))?;
    let bytes = n
        .checked_mul(multiplier)
        .ok_or_else(|| ParseError(format!("'{t}' is too large")))?;
    if bytes == 0 {
        return Err(ParseError(format!("'{t}': a size must be at least 1 byte")));
    }
    Ok(bytes)
}

/// A size as a whole number of the largest power-of-1024 unit that divides it exactly:
/// (count, 0 for bytes, 1 for KiB, 2 for MiB).
fn exact_unit(bytes: usize) -> (usize, usize) {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        (bytes >> 20, 2)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        (bytes >> 10, 1)
    } else {
        (bytes, 0)
    }
}

/// Formats a byte size the way `parse_size` reads it back (`4k`, `1m`, `1500`).
pub fn format_size(bytes: usize) -> String {
    let (n, unit) = exact_unit(bytes);
    format!("{n}{}", ["", "k", "m"][unit])
}

/// Formats a byte size for reading (`64 KiB`, `1 MiB`, `1500 B`), for reports.
pub fn format_bytes(bytes: usize) -> String {
    let (n, unit) = exact_unit(bytes);
    format!("{n} {}", ["B", "KiB", "MiB"][unit])
}

/// Parses a duration: `5s`, `500ms`, `1.5s`, `2m`, or plain seconds (`5`). Must be positive.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (number, unit_s) = [("ms", 1e-3), ("us", 1e-6), ("s", 1.0), ("m", 60.0)]
        .into_iter()
        .find_map(|(suffix, scale)| lower.strip_suffix(suffix).map(|n| (n.trim(), scale)))
        .unwrap_or((lower.as_str(), 1.0));
    let value: f64 = number.parse().map_err(|_| {
        ParseError(format!(
            "'{t}' is not a duration: give seconds (5, 5s, 1.5s), milliseconds (500ms) or minutes (2m)"
        ))
    })?;
    let seconds = value * unit_s;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(ParseError(format!("'{t}': a duration must be positive")));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| ParseError(format!("'{t}' is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_powers_of_1024() {
        assert_eq!(parse_size("1").unwrap(), 1);
        assert_eq!(parse_size("1500").unwrap(), 1500);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1m").unwrap(), 1 << 20);
        assert_eq!(parse_size(" 2g ").unwrap(), 2 << 30);
        assert_eq!(parse_size("100b").unwrap(), 100);
    }

    #[test]
    fn bad_sizes_are_refused_with_a_reason() {
        for bad in [
            "",
            "0",
            "0k",
            "-1",
            "1.5k",
            "k",
            "abc",
            "4x",
            "99999999999999999999",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(!err.0.is_empty(), "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for n in [1, 1000, 1024, 4096, 65536, 1 << 20, 3 << 20, 1025] {
            assert_eq!(parse_size(&format_size(n)).unwrap(), n);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "0", "0s", "-1s", "abc", "nan", "inf", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
