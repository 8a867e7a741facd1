//! What the veth pair looks like: MTU and the two IPv4 addresses.

use std::net::Ipv4Addr;

use crate::{NetError, Role};

/// The smallest MTU IPv4 allows (RFC 791) and the kernel's minimum for veth.
pub const MIN_MTU: u32 = 68;
/// The largest MTU a veth device accepts (`ETH_MAX_MTU`; the kernel reports `maxmtu 65535`).
pub const MAX_MTU: u32 = 65535;

fn validate_mtu(mtu: u32) -> Result<(), NetError> {
    if (MIN_MTU..=MAX_MTU).contains(&mtu) {
        Ok(())
    } else {
        Err(NetError::InvalidConfig(format!(
            "MTU {mtu} is out of range: a veth accepts {MIN_MTU}..={MAX_MTU}"
        )))
    }
}

/// The [`Sink`](crate::Sink)'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkConfig {
    /// MTU of the sink's veth pair, [`MIN_MTU`]..=[`MAX_MTU`]. A UDP datagram is sent without
    /// a copy only if it fits in one IP packet (payload up to MTU - 28, see
    /// [`Sink::max_zerocopy_datagram`](crate::Sink::max_zerocopy_datagram)).
    pub mtu: u32,
}

impl Default for SinkConfig {
    /// MTU 9000 (a jumbo frame, as on a datacentre NIC): datagrams up to 8972 bytes can be
    /// sent without a copy.
    fn default() -> Self {
        SinkConfig { mtu: 9000 }
    }
}

impl SinkConfig {
    /// Checks the settings without touching the system.
    pub fn validate(&self) -> Result<(), NetError> {
        validate_mtu(self.mtu)
    }
}

/// The name of a side's veth end inside its namespace (every topology uses the same names:
/// each lives in its own fresh namespaces, so they never clash).
pub fn ifname(side: Role) -> &'static str {
    match side {
        Role::Sender => "cb-send",
        Role::Receiver => "cb-recv",
    }
}

/// The veth pair's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VethConfig {
    /// MTU of both ends, [`MIN_MTU`]..=[`MAX_MTU`].
    pub mtu: u32,
    /// Address of the receiver's end (servers listen here).
    pub receiver_addr: Ipv4Addr,
    /// Address of the sender's end.
    pub sender_addr: Ipv4Addr,
    /// Prefix length of the shared subnet, 1..=31.
    pub prefix_len: u8,
}

impl Default for VethConfig {
    /// MTU 1500, 198.18.0.1 (receiver) and 198.18.0.2 (sender) in a /30: 198.18.0.0/15 is the
    /// range RFC 2544 reserves for benchmarking, so it never collides with a real network.
    fn default() -> Self {
        VethConfig {
            mtu: 1500,
            receiver_addr: Ipv4Addr::new(198, 18, 0, 1),
            sender_addr: Ipv4Addr::new(198, 18, 0, 2),
            prefix_len: 30,
        }
    }
}

impl VethConfig {
    /// Checks the settings without touching the system.
    pub fn validate(&self) -> Result<(), NetError> {
        let invalid = |what: String| Err(NetError::InvalidConfig(what));
        validate_mtu(self.mtu)?;
        if !(1..=31).contains(&self.prefix_len) {
            return invalid(format!(
                "prefix length /{} is out of range: use /1../31 so that both ends fit in one subnet",
                self.prefix_len
            ));
        }
        for (side, addr) in [
            (Role::Receiver, self.receiver_addr),
            (Role::Sender, self.sender_addr),
        ] {
            if addr.is_unspecified()
                || addr.is_loopback()
                || addr.is_multicast()
                || addr.is_broadcast()
            {
                return invalid(format!(
                    "the {side} address {addr} cannot be a host's address \
                     (unspecified, loopback, multicast or broadcast); use e.g. 198.18.0.0/15"
                ));
            }
            if self.prefix_len < 31 {
                let host = u32::from(addr) & !self.mask();
                if host == 0 || host == !self.mask() {
                    return invalid(format!(
                        "the {side} address {addr} is the network or broadcast address of its /{} subnet; pick another host address",
                        self.prefix_len
                    ));
                }
            }
        }
        if self.receiver_addr == self.sender_addr {
            return invalid(format!(
                "the receiver and sender addresses are both {}; they must differ",
                self.receiver_addr
            ));
        }
        if self.network(self.receiver_addr) != self.network(self.sender_addr) {
            return invalid(format!(
                "{} and {} are not in the same /{} subnet; pick two addresses of one subnet",
                self.receiver_addr, self.sender_addr, self.prefix_len
            ));
        }
        Ok(())
    }

    /// The address of `side`'s end.
    pub fn addr(&self, side: Role) -> Ipv4Addr {
        match side {
            Role::Sender => self.sender_addr,
            Role::Receiver => self.receiver_addr,
        }
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }

    fn network(&self, addr: Ipv4Addr) -> u32 {
        u32::from(addr) & self.mask()
    }

    /// The subnet's broadcast address, for prefixes that have one (not /31).
    pub(crate) fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len < 31)
            .then(|| Ipv4Addr::from(self.network(self.receiver_addr) | !self.mask()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut VethConfig)) -> VethConfig {
        let mut c = VethConfig::default();
        f(&mut c);
        c
    }

    #[test]
    fn default_is_valid_and_in_the_benchmarking_range() {
        let c = VethConfig::default();
        c.validate().unwrap();
        assert_eq!(c.mtu, 1500);
        assert_eq!(c.prefix_len, 30);
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(198, 18, 0, 3)));
        assert_eq!(c.addr(Role::Receiver), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(c.addr(Role::Sender), Ipv4Addr::new(198, 18, 0, 2));
    }

    #[test]
    fn mtu_bounds() {
        for ok in [68, 1500, 9000, 65535] {
            with(|c| c.mtu = ok).validate().unwrap();
        }
        for bad in [0, 67, 65536, 70000] {
            let err = with(|c| c.mtu = bad).validate().unwrap_err();
            assert!(matches!(err, NetError::InvalidConfig(_)), "{err}");
            assert!(err.to_string().contains("65535"), "{err}");
        }
    }

    #[test]
    fn sink_mtu_bounds() {
        assert_eq!(SinkConfig::default().mtu, 9000);
        for ok in [68, 1500, 9000, 65535] {
            SinkConfig { mtu: ok }.validate().unwrap();
        }
        for bad in [0, 67, 65536] {
            let err = SinkConfig { mtu: bad }.validate().unwrap_err();
            assert!(err.to_string().contains("68..=65535"), "{err}");
        }
    }

    #[test]
    fn addresses_must_differ_and_share_a_subnet() {
        let same = with(|c| c.sender_addr = c.receiver_addr);
        assert!(matches!(same.validate(), Err(NetError::InvalidConfig(_))));
        let apart = with(|c| c.sender_addr = Ipv4Addr::new(198, 18, 0, 5));
        assert!(matches!(apart.validate(), Err(NetError::InvalidConfig(_))));
        let wide = with(|c| {
            c.sender_addr = Ipv4Addr::new(198, 19, 1, 7);
            c.prefix_len = 15;
        });
        wide.validate().unwrap();
        let p2p = with(|c| {
            c.receiver_addr = Ipv4Addr::new(198, 18, 0, 0);
            c.sender_addr = Ipv4Addr::new(198, 18, 0, 1);
            c.prefix_len = 31;
        });
        p2p.validate().unwrap();
        assert_eq!(p2p.broadcast(), None);
    }

    #[test]
    fn refuses_special_addresses_and_prefixes() {
        for prefix in [0, 32, 33] {
            assert!(with(|c| c.prefix_len = prefix).validate().is_err());
        }
        for addr in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(198, 18, 0, 0), // network address of the /30
            Ipv4Addr::new(198, 18, 0, 3), // broadcast address of the /30
        ] {
            assert!(with(|c| c.sender_addr = addr).validate().is_err(), "{addr}");
        }
    }
}
