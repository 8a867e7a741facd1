//! copybench-net: the experiment's topology, and nothing else.
//!
//! Builds two anonymous network namespaces joined by a veth pair, entirely from inside the
//! process through rtnetlink messages (no `ip` command, no named namespace, no temporary
//! file), and lets any thread join either side with [`Topology::enter`]. The receiver end and
//! the sender end each get an address from 198.18.0.0/15 (RFC 2544's benchmarking range), the
//! configured MTU, and are brought up together with `lo`.
//!
//! The namespaces are held only by file descriptors in [`Topology`] and by the threads that
//! entered them, so the kernel removes them, and the veth pair with them, as soon as the
//! process lets go, including when it is killed with SIGKILL.
//!
//! A second, sender-only topology, [`Sink`], is one namespace whose veth pair leads nowhere
//! (far end down, a permanent neighbour entry for the target): the one place on a single host
//! where `MSG_ZEROCOPY` and io_uring zero-copy sends are not copied after all.
//!
//! ```no_run
//! use copybench_net::{Role, Topology, VethConfig};
//! let topology = Topology::create(&VethConfig::default())?;
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         topology.enter(Role::Receiver)?;
//!         // bind to topology.receiver_addr() ...
//!         Ok::<_, copybench_net::NetError>(())
//!     });
//! });
//! # Ok::<_, copybench_net::NetError>(())
//! ```

mod config;
mod error;
mod netlink;
mod ns;
mod sink;
mod topology;

pub use config::{ifname, SinkConfig, VethConfig, MAX_MTU, MIN_MTU};
/// The side of a connection, also the end of a veth pair: the engine's own type, so that the
/// binary hands a thread's role to [`Topology::enter`] as it is.
pub use copybench_core::model::Role;
pub use error::NetError;
pub use ns::has_net_admin;
pub use sink::Sink;
pub use topology::{check_namespaces, Topology};

// The engine hands one `&Topology` (or `&Sink`) to all its threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Topology>();
    send_sync::<Sink>();
    send_sync::<NetError>();
};
