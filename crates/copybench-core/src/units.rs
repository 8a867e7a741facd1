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

/// Parses a rate in bits of payload per second, SI (powers of 1000, as Gbps elsewhere):
/// plain bits per second (`1000000`), or a number with `k`, `m`, `g` or `t` (`500m` =
/// 500 000 000 bit/s, `2g`, `1.5g`), optionally followed by `bps` or `bit`. Zero, negative and
/// non-finite rates are refused.
pub fn parse_rate(text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let unitless = ["bps", "bit/s", "bit", "b"]
        .iter()
        .find_map(|u| lower.strip_suffix(u))
        .unwrap_or(&lower)
        .trim();
    let (number, scale) = [("k", 1e3), ("m", 1e6), ("g", 1e9), ("t", 1e12)]
        .into_iter()
        .find_map(|(suffix, m)| unitless.strip_suffix(suffix).map(|n| (n.trim(), m)))
        .unwrap_or((unitless, 1.0));
    let bad = || {
        ParseError(format!(
            "'{t}' is not a rate: give bits of payload per second with k, m, g or t \
             (powers of 1000: 500m = 500 Mbit/s, 2g = 2 Gbit/s)"
        ))
    };
    if number.starts_with('-') {
        return Err(ParseError(format!(
            "'{t}': a rate must be at least 1 bit per second (500m, 2g)"
        )));
    }
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bps = value * scale;
    if !bps.is_finite() || bps < 1.0 {
        return Err(ParseError(format!(
            "'{t}': a rate must be at least 1 bit per second"
        )));
    }
    if bps > u64::MAX as f64 / 2.0 {
        return Err(ParseError(format!("'{t}' is too large")));
    }
    Ok(bps.round() as u64)
}

/// Formats a rate in bits per second the way [`parse_rate`] reads it back where it is a
/// whole number of its unit (`500m`, `2g`, `1500k`), with up to three decimals otherwise.
pub fn format_rate(bps: u64) -> String {
    for (scale, unit) in [(1e12, "t"), (1e9, "g"), (1e6, "m"), (1e3, "k")] {
        if bps as f64 >= scale {
            let v = bps as f64 / scale;
            let text = format!("{v:.3}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            return format!("{text}{unit}");
        }
    }
    bps.to_string()
}

/// A rate for people: `500 Mbps`, `2 Gbps`, `1.5 Gbps` (SI, bits per second).
pub fn rate_text(bps: f64) -> String {
    if !bps.is_finite() || bps < 0.0 {
        return "?".into();
    }
    let (v, unit) = if bps >= 1e12 {
        (bps / 1e12, "Tbps")
    } else if bps >= 1e9 {
        (bps / 1e9, "Gbps")
    } else if bps >= 1e6 {
        (bps / 1e6, "Mbps")
    } else if bps >= 1e3 {
        (bps / 1e3, "kbps")
    } else {
        (bps, "bps")
    };
    let text = format!("{v:.2}");
    format!(
        "{} {unit}",
        text.trim_end_matches('0').trim_end_matches('.')
    )
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

    #[test]
    fn rates_are_si_bits_per_second() {
        assert_eq!(parse_rate("500m").unwrap(), 500_000_000);
        assert_eq!(parse_rate("2g").unwrap(), 2_000_000_000);
        assert_eq!(parse_rate("2G").unwrap(), 2_000_000_000);
        assert_eq!(parse_rate("1.5g").unwrap(), 1_500_000_000);
        assert_eq!(parse_rate("10t").unwrap(), 10_000_000_000_000);
        assert_eq!(parse_rate("200mbps").unwrap(), 200_000_000);
        assert_eq!(parse_rate("64k").unwrap(), 64_000);
        assert_eq!(parse_rate("1000").unwrap(), 1000);
        for bad in [
            "", "0", "0m", "-1g", "-5", "abc", "4x", "g", "1e3", "nan", "0.0001",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        for r in [1000, 64_000, 500_000_000, 2_000_000_000, 1_500_000_000] {
            assert_eq!(parse_rate(&format_rate(r)).unwrap(), r);
        }
        assert_eq!(rate_text(5e9), "5 Gbps");
        assert_eq!(rate_text(2.5e8), "250 Mbps");
    }
}
