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

/// The number of CPUs in a kernel CPU list such as `0-3,8,10-11`.
pub fn count_cpu_list(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                b.parse::<usize>()
                    .ok()?
                    .checked_sub(a.parse::<usize>().ok()?)?
                    + 1
            }
            None => part.parse::<usize>().map(|_| 1).ok()?,
        };
    }
    (n > 0).then_some(n)
}

/// Whether a kernel config sets a boolean option: `on` (`=y`) or `off` (`is not set`, or
/// absent from a complete config).
pub fn config_option(config: &str, option: &str) -> &'static str {
    let set = format!("{option}=y");
    if config.lines().any(|l| l.trim() == set) {
        "on"
    } else {
        "off"
    }
}

/// `CONFIG_IRQ_TIME_ACCOUNTING` as `("on" | "off" | "unknown", where it was read or why not)`:
/// from `/proc/config.gz` (gzip), else `/boot/config-<release>`.
pub fn irq_time_accounting(release: &str) -> (String, String) {
    const OPTION: &str = "CONFIG_IRQ_TIME_ACCOUNTING";
    const PROC: &str = "/proc/config.gz";
    let gz = std::fs::File::open(PROC).and_then(|f| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut text)?;
        Ok(text)
    });
    let boot = format!("/boot/config-{release}");
    match gz {
        Ok(text) => (config_option(&text, OPTION).into(), PROC.into()),
        Err(gz_error) => match std::fs::read_to_string(&boot) {
            Ok(text) => (config_option(&text, OPTION).into(), boot),
            Err(boot_error) => (
                "unknown".into(),
                format!("neither {PROC} ({gz_error}) nor {boot} ({boot_error}) could be read"),
            ),
        },
    }
}

/// `counters_available` (whether each figure can be measured, tried the way it is measured)
/// and `counter_sources` (where each comes from).
fn counters(
    counters: bool,
) -> (
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
) {
    let mut available = serde_json::Map::new();
    let mut sources = serde_json::Map::new();
    if counters {
        for a in copybench_perf::availability() {
            let v = match a.result {
                Ok(()) => serde_json::json!("supported"),
                Err(reason) => serde_json::json!({ "unsupported": reason.to_string() }),
            };
            available.insert(a.event.to_string(), v);
            sources.insert(a.event.to_string(), a.source.into());
        }
    }
    (available, sources)
}

pub fn collect(counters_on: bool) -> HostInfo {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy().into_owned();
    let (counters_available, counter_sources) = counters(counters_on);
    let (irq, irq_source) = irq_time_accounting(&release);
    HostInfo {
        hostname: Some(uname.nodename().to_string_lossy().into_owned()),
        kernel: Some(release),
        cpu_model: cpu_model(),
        cores: std::thread::available_parallelism().ok().map(|n| n.get()),
        cores_online: read_trimmed("/sys/devices/system/cpu/online")
            .and_then(|l| count_cpu_list(&l)),
        cores_usable: core_affinity::get_core_ids().map(|ids| ids.len()),
        irq_time_accounting: Some(irq),
        irq_time_accounting_source: Some(irq_source),
        optmem_max: optmem_max(),
        counters_available,
        counter_sources,
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
    use super::*;

    #[test]
    fn cpu_lists_and_config_options() {
        assert_eq!(count_cpu_list("0-1\n"), Some(2));
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("3-1"), None);
        let config = "CONFIG_A=y\n# CONFIG_IRQ_TIME_ACCOUNTING is not set\nCONFIG_B=m\n";
        assert_eq!(config_option(config, "CONFIG_IRQ_TIME_ACCOUNTING"), "off");
        assert_eq!(config_option(config, "CONFIG_A"), "on");
        assert_eq!(
            config_option(
                "CONFIG_IRQ_TIME_ACCOUNTING=y\n",
                "CONFIG_IRQ_TIME_ACCOUNTING"
            ),
            "on"
        );
    }

    #[test]
    fn irq_time_accounting_is_read_from_this_kernel() {
        let release = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        let (state, source) = irq_time_accounting(&release);
        if std::path::Path::new("/proc/config.gz").exists() {
            assert_eq!(source, "/proc/config.gz");
            assert!(state == "on" || state == "off", "{state}");
        } else {
            assert!(
                ["on", "off", "unknown"].contains(&state.as_str()),
                "{state}: {source}"
            );
        }
    }

    #[test]
    fn timestamp_shape() {
        let t = super::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
