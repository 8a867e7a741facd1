//! Facts about this machine recorded with every run.

use copybench_core::result::HostInfo;

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

pub fn optmem_max() -> Option<u64> {
    read_trimmed("/proc/sys/net/core/optmem_max")?.parse().ok()
}

pub fn collect(counters: bool) -> HostInfo {
    let uname = rustix::system::uname();
    let mut available = serde_json::Map::new();
    if counters {
        for a in copybench_perf::availability() {
            let v = match a.result {
                Ok(()) => serde_json::json!("supported"),
                Err(reason) => serde_json::json!({ "unsupported": reason }),
            };
            available.insert(a.event.to_string(), v);
        }
    }
    HostInfo {
        hostname: Some(uname.nodename().to_string_lossy().into_owned()),
        kernel: Some(uname.release().to_string_lossy().into_owned()),
        cpu_model: cpu_model(),
        cores: std::thread::available_parallelism().ok().map(|n| n.get()),
        optmem_max: optmem_max(),
        counters_available: available,
    }
}

/// Now, as RFC 3339 UTC (no time-zone database needed).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_shape() {
        let t = super::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
