//! Anonymous network namespaces held by file descriptors, and the capabilities they need.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::thread::{CapabilitySet, LinkNameSpaceType, UnshareFlags};

use crate::NetError;

/// Moves the calling thread into a brand-new, empty network namespace and returns a handle
/// to it. Only ever called on the short-lived helper thread of `Topology::create` and
/// `Sink::create` (see [`on_setup_thread`]).
#[allow(unsafe_code)] // the crate's only unsafe call, see the SAFETY comment
pub(crate) fn unshare_new() -> Result<OwnedFd, NetError> {
    // SAFETY: `unshare_unsafe` is unsafe only because `UnshareFlags::FILES` can leave threads
    // with file descriptor tables that disagree. NEWNET alone changes nothing but the calling
    // thread's network namespace; no file descriptor is affected.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
        .map_err(|e| NetError::namespace("creating a network namespace (unshare)", e.into()))?;
    let file = File::open("/proc/thread-self/ns/net").map_err(|e| {
        NetError::namespace("opening /proc/thread-self/ns/net of the new namespace", e)
    })?;
    Ok(file.into())
}

/// Moves the calling thread (only it) into the namespace `ns` refers to.
pub(crate) fn enter(ns: BorrowedFd<'_>, what: &str) -> Result<(), NetError> {
    rustix::thread::move_into_link_name_space(ns, Some(LinkNameSpaceType::Network)).map_err(|e| {
        NetError::namespace(format!("entering the {what} namespace (setns)"), e.into())
    })
}

/// Runs `f` on a new thread inside the namespace `ns` refers to and returns its result; the
/// calling thread does not move. A panic in `f` is passed on to the caller.
pub(crate) fn run_in<T: Send>(
    ns: BorrowedFd<'_>,
    what: &str,
    f: impl FnOnce() -> T + Send,
) -> Result<T, NetError> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(format!("cb-netns-{what}"))
            .spawn_scoped(scope, move || {
                enter(ns, what)?;
                Ok(f())
            })
            .map_err(|e| {
                NetError::namespace(format!("starting a thread for the {what} namespace"), e)
            })?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `build` on a short-lived helper thread, which may unshare namespaces freely: the
/// calling thread never moves, and the helper's own membership ends with it.
pub(crate) fn on_setup_thread<T: Send>(
    build: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("cb-netns-setup".into())
            .spawn_scoped(scope, build)
            .map_err(|e| NetError::namespace("starting the namespace setup thread", e))?;
        helper.join().unwrap_or_else(|_| {
            Err(NetError::Verify(
                "the namespace setup thread panicked".into(),
            ))
        })
    })
}

/// The namespace's inode number, as shown in `/proc/<pid>/ns/net` (`net:[<inode>]`).
pub(crate) fn inode(ns: impl AsFd) -> io::Result<u64> {
    Ok(rustix::fs::fstat(ns)?.st_ino)
}

/// Whether the calling thread has CAP_NET_ADMIN in its effective set (threads of a process
/// normally share their capabilities).
pub fn has_net_admin() -> bool {
    effective().is_some_and(|caps| caps.contains(CapabilitySet::NET_ADMIN))
}

/// The capabilities `Topology::create` and `Sink::create` need and the calling thread lacks,
/// by name.
pub(crate) fn missing_capabilities() -> Vec<&'static str> {
    let Some(caps) = effective() else {
        return vec!["CAP_NET_ADMIN", "CAP_SYS_ADMIN"];
    };
    [
        (CapabilitySet::NET_ADMIN, "CAP_NET_ADMIN"),
        (CapabilitySet::SYS_ADMIN, "CAP_SYS_ADMIN"),
    ]
    .into_iter()
    .filter(|(cap, _)| !caps.contains(*cap))
    .map(|(_, name)| name)
    .collect()
}

fn effective() -> Option<CapabilitySet> {
    rustix::thread::capabilities(None)
        .ok()
        .map(|sets| sets.effective)
}

/// Refuses early, with a clear message, when the calling thread cannot build namespaces.
pub(crate) fn require_capabilities() -> Result<(), NetError> {
    let missing = missing_capabilities();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(NetError::MissingCapability {
            missing: missing.join(" and "),
        })
    }
}
