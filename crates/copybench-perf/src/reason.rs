//! Turning a failed `perf_event_open` into a sentence a human can act on.

use std::io;

use rustix::io::Errno;

use crate::error::GroupFailure;

/// `perf_event_attr.type` values from the kernel UAPI (`linux/perf_event.h`); stable ABI.
pub(crate) const PERF_TYPE_HARDWARE: u32 = 0;
pub(crate) const PERF_TYPE_SOFTWARE: u32 = 1;
pub(crate) const PERF_TYPE_HW_CACHE: u32 = 3;
pub(crate) const PERF_TYPE_RAW: u32 = 4;

pub(crate) const NO_PMU: &str = "no hardware PMU exposed to this machine (typical of VMs/clouds)";

const PARANOID_PATH: &str = "/proc/sys/kernel/perf_event_paranoid";

/// What we know when an open fails: which kind of event it was, and whether a hardware
/// counter already opened on this thread (then the PMU exists and only this event is missing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenContext {
    pub attr_type: u32,
    pub config: u64,
    pub pmu_known_present: bool,
}

/// The errno's symbolic name (`ENOENT`), or `errno N` for ones this crate never expects.
pub(crate) fn errno_name(raw: i32) -> String {
    let e = Errno::from_raw_os_error(raw);
    let name = match e {
        Errno::NOENT => "ENOENT",
        Errno::OPNOTSUPP => "EOPNOTSUPP",
        Errno::ACCESS => "EACCES",
        Errno::PERM => "EPERM",
        Errno::INVAL => "EINVAL",
        Errno::NODEV => "ENODEV",
        Errno::NOSYS => "ENOSYS",
        Errno::BUSY => "EBUSY",
        Errno::MFILE => "EMFILE",
        Errno::NFILE => "ENFILE",
        Errno::NOSPC => "ENOSPC",
        Errno::NOMEM => "ENOMEM",
        Errno::SRCH => "ESRCH",
        Errno::TOOBIG => "E2BIG",
        Errno::FAULT => "EFAULT",
        Errno::BADF => "EBADF",
        Errno::OVERFLOW => "EOVERFLOW",
        Errno::INTR => "EINTR",
        _ => return format!("errno {raw}"),
    };
    name.to_string()
}

/// Current `kernel.perf_event_paranoid`, as text (`unknown` when unreadable).
pub(crate) fn paranoid_level() -> String {
    std::fs::read_to_string(PARANOID_PATH)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

fn is_hardware(attr_type: u32) -> bool {
    matches!(
        attr_type,
        PERF_TYPE_HARDWARE | PERF_TYPE_HW_CACHE | PERF_TYPE_RAW
    )
}

/// Why `perf_event_open` failed, for a human. Always names the errno when there is one.
pub(crate) fn open_failure(err: &io::Error, ctx: OpenContext) -> String {
    let Some(raw) = err.raw_os_error() else {
        // perf-event2 turns E2BIG into a custom error (the kernel's perf_event_attr is older).
        if err.kind() == io::ErrorKind::Unsupported {
            return format!(
                "this kernel does not accept the requested counter options ({err}) [E2BIG]"
            );
        }
        return format!("perf_event_open failed: {err}");
    };
    let name = errno_name(raw);
    let e = Errno::from_raw_os_error(raw);
    if e == Errno::NOENT || e == Errno::OPNOTSUPP {
        return if is_hardware(ctx.attr_type) {
            if ctx.pmu_known_present {
                format!(
                    "this CPU's PMU does not provide the event (type {}, config {:#x}) [{name}]",
                    ctx.attr_type, ctx.config
                )
            } else {
                format!("{NO_PMU} [{name}]")
            }
        } else if ctx.attr_type == PERF_TYPE_SOFTWARE {
            format!(
                "this kernel has no such software event (config {:#x}) [{name}]",
                ctx.config
            )
        } else {
            format!(
                "no PMU on this machine provides event type {} (config {:#x}) [{name}]",
                ctx.attr_type, ctx.config
            )
        };
    }
    if e == Errno::ACCESS || e == Errno::PERM {
        return permission_reason(&name, &paranoid_level());
    }
    format!(
        "perf_event_open failed: {} [{name}]",
        io::Error::from_raw_os_error(raw)
    )
}

pub(crate) fn permission_reason(errno: &str, paranoid: &str) -> String {
    format!(
        "permission denied [{errno}]: kernel.perf_event_paranoid is {paranoid} here; counting \
         kernel work per thread needs it at 1 or lower (sysctl -w kernel.perf_event_paranoid=1) \
         or the CAP_PERFMON capability (CAP_SYS_ADMIN before Linux 5.8)"
    )
}

/// Why an ioctl or read on an opened counter failed.
pub(crate) fn io_failure(action: &'static str, err: &io::Error) -> GroupFailure {
    GroupFailure {
        action,
        error: err.to_string(),
        errno: err.raw_os_error().map(errno_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(attr_type: u32, pmu: bool) -> OpenContext {
        OpenContext {
            attr_type,
            config: 0,
            pmu_known_present: pmu,
        }
    }

    fn os(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }

    #[test]
    fn enoent_on_hardware_says_no_pmu() {
        let r = open_failure(&os(Errno::NOENT), ctx(PERF_TYPE_HARDWARE, false));
        assert!(r.contains("no hardware PMU"), "{r}");
        assert!(r.contains("ENOENT"), "{r}");
        let r = open_failure(&os(Errno::OPNOTSUPP), ctx(PERF_TYPE_HW_CACHE, false));
        assert!(
            r.contains("no hardware PMU") && r.contains("EOPNOTSUPP"),
            "{r}"
        );
    }

    #[test]
    fn enoent_with_a_pmu_says_the_event_is_missing() {
        let r = open_failure(&os(Errno::NOENT), ctx(PERF_TYPE_HW_CACHE, true));
        assert!(r.contains("PMU does not provide"), "{r}");
        assert!(r.contains("ENOENT"), "{r}");
    }

    #[test]
    fn permission_mentions_paranoid_value_and_capability() {
        let r = open_failure(&os(Errno::ACCESS), ctx(PERF_TYPE_SOFTWARE, false));
        assert!(r.contains("EACCES"), "{r}");
        assert!(r.contains("kernel.perf_event_paranoid is"), "{r}");
        assert!(r.contains("CAP_PERFMON"), "{r}");
        // The value shown is the machine's current one.
        let level = paranoid_level();
        assert!(r.contains(&format!("is {level} here")), "{r}");
        let r = open_failure(&os(Errno::PERM), ctx(PERF_TYPE_HARDWARE, false));
        assert!(r.contains("EPERM") && r.contains("CAP_PERFMON"), "{r}");
    }

    #[test]
    fn other_errors_carry_errno_text_and_name() {
        let r = open_failure(&os(Errno::INVAL), ctx(PERF_TYPE_HARDWARE, true));
        assert!(r.contains("EINVAL"), "{r}");
        assert!(r.contains("Invalid argument"), "{r}");
        let r = open_failure(&os(Errno::MFILE), ctx(PERF_TYPE_SOFTWARE, true));
        assert!(r.contains("EMFILE"), "{r}");
    }

    #[test]
    fn a_group_failure_says_what_failed_with_the_errno_name() {
        let failure = io_failure("reading the counter group", &os(Errno::BADF));
        assert_eq!(failure.errno.as_deref(), Some("EBADF"));
        let words = failure.to_string();
        assert!(
            words.starts_with("reading the counter group failed: "),
            "{words}"
        );
        assert!(words.ends_with(" [EBADF]"), "{words}");
        // An error without an errno has no bracket.
        let plain = io_failure("enabling the counter group", &io::Error::other("gone"));
        assert_eq!(plain.to_string(), "enabling the counter group failed: gone");
    }
}
