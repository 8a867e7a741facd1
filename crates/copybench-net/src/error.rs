//! The crate's one error type. Every message says what went wrong and what to do about it.

use std::io;

/// The hint appended to errors for which the only remedy is not to use namespaces.
const FALLBACK: &str = "use `--topology loopback` to run without namespaces";

/// Why the namespace/veth topology could not be built or joined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The process lacks a capability the topology needs; nothing was attempted.
    #[error(
        "missing {missing}: building the network namespaces and veth pair needs CAP_NET_ADMIN \
         (and CAP_SYS_ADMIN for the namespaces); run as root (or grant CAP_NET_ADMIN and \
         CAP_SYS_ADMIN, e.g. `setcap cap_net_admin,cap_sys_admin+ep <binary>`), \
         or use `--topology loopback`"
    )]
    MissingCapability {
        /// The missing capabilities, e.g. `CAP_NET_ADMIN`.
        missing: String,
    },

    /// The kernel refused an rtnetlink request (a NACK carrying `errno`).
    #[error("{op}: the kernel refused the netlink request: {} (errno {errno}); {hint}",
        io::Error::from_raw_os_error(*.errno))]
    Netlink {
        /// What was being done, e.g. `creating veth pair cb-recv/cb-send`.
        op: String,
        /// The positive errno the kernel answered with.
        errno: i32,
        /// What to do about it.
        hint: String,
    },

    /// Talking to the kernel over the netlink socket failed (socket, send, receive).
    #[error("{op}: netlink socket error: {source}; {FALLBACK}")]
    NetlinkSocket {
        op: String,
        #[source]
        source: io::Error,
    },

    /// The kernel's reply could not be understood.
    #[error("{op}: unexpected netlink reply: {detail}; this is a copybench bug, please report it")]
    NetlinkProtocol { op: String, detail: String },

    /// Creating, opening or entering a network namespace failed.
    #[error("{op}: {source}; {hint}")]
    Namespace {
        /// What was being done, e.g. `entering the sender namespace (setns)`.
        op: String,
        #[source]
        source: io::Error,
        /// What to do about it.
        hint: String,
    },

    /// The [`VethConfig`](crate::VethConfig) or [`SinkConfig`](crate::SinkConfig) was refused before anything was created.
    #[error("invalid topology configuration: {0}")]
    InvalidConfig(String),

    /// An address is not a safe target for a [`Sink`](crate::Sink): datagrams sent to it
    /// would not end at the sink's down far end (another route, no permanent neighbour entry).
    #[error(
        "{target} is not a safe sink target: {reason}; send only to the sink's target address \
         ({}), from a thread inside the sink (`Sink::enter`)",
        crate::Sink::TARGET_ADDR
    )]
    UnsafeTarget {
        /// The address that was checked.
        target: std::net::Ipv4Addr,
        /// Why it is refused.
        reason: String,
    },

    /// The topology was built but does not behave as configured.
    #[error("the topology does not work as configured: {0}; {FALLBACK}")]
    Verify(String),
}

impl NetError {
    /// The errno behind the error, when the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetError::Netlink { errno, .. } => Some(*errno),
            NetError::NetlinkSocket { source, .. } | NetError::Namespace { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    pub(crate) fn netlink(op: &str, errno: i32) -> NetError {
        let hint = match errno {
            libc::EPERM | libc::EACCES => {
                format!("the process is not allowed to configure links; run as root or {FALLBACK}")
            }
            libc::EOPNOTSUPP => format!(
                "this kernel lacks veth support (CONFIG_VETH); try `modprobe veth`, or {FALLBACK}"
            ),
            libc::EINVAL | libc::ERANGE => {
                format!("the kernel refused a value (MTU or address); check the settings, or {FALLBACK}")
            }
            _ => FALLBACK.to_string(),
        };
        NetError::Netlink {
            op: op.to_string(),
            errno,
            hint,
        }
    }

    pub(crate) fn socket(op: &str, source: io::Error) -> NetError {
        NetError::NetlinkSocket {
            op: op.to_string(),
            source,
        }
    }

    pub(crate) fn protocol(op: &str, detail: impl Into<String>) -> NetError {
        NetError::NetlinkProtocol {
            op: op.to_string(),
            detail: detail.into(),
        }
    }

    pub(crate) fn namespace(op: impl Into<String>, source: io::Error) -> NetError {
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) => format!(
                "namespaces need CAP_SYS_ADMIN and may be forbidden inside a container \
                 (seccomp, read-only /proc); run as root on the host, or {FALLBACK}"
            ),
            Some(libc::EINVAL) | Some(libc::ENOSYS) => format!(
                "this kernel lacks network namespaces (CONFIG_NET_NS); {FALLBACK}"
            ),
            Some(libc::ENOSPC) => format!(
                "the network namespace limit is reached (/proc/sys/user/max_net_namespaces); {FALLBACK}"
            ),
            _ => FALLBACK.to_string(),
        };
        NetError::Namespace {
            op: op.into(),
            source,
            hint,
        }
    }
}
