//! MSG_ZEROCOPY completion notifications: parsing the error queue's control data, and tracking
//! which send sequence numbers have completed.
//!
//! Every `sendmsg(MSG_ZEROCOPY)` that sends at least one byte consumes the socket's next 32-bit
//! sequence number (wrapping). The kernel reports completions as `struct sock_extended_err` with
//! `ee_origin == SO_EE_ORIGIN_ZEROCOPY` for the inclusive range `ee_info..=ee_data`, and sets
//! `SO_EE_CODE_ZEROCOPY_COPIED` in `ee_code` when it copied the data after all.

/// `SO_EE_ORIGIN_ZEROCOPY` from `<linux/errqueue.h>` (not in the libc crate).
pub const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
/// `SO_EE_CODE_ZEROCOPY_COPIED` from `<linux/errqueue.h>` (not in the libc crate).
pub const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// Size of `struct sock_extended_err`: errno u32, origin u8, type u8, code u8, pad u8,
/// info u32, data u32.
pub const SOCK_EXTENDED_ERR_LEN: usize = 16;

/// The fields of one `struct sock_extended_err`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedErr {
    /// `ee_errno`: 0 for zero-copy completions.
    pub errno: u32,
    /// `ee_origin`: [`SO_EE_ORIGIN_ZEROCOPY`] for completions.
    pub origin: u8,
    /// `ee_type`.
    pub kind: u8,
    /// `ee_code`: [`SO_EE_CODE_ZEROCOPY_COPIED`] when the kernel copied.
    pub code: u8,
    /// `ee_info`: first sequence number of the range.
    pub info: u32,
    /// `ee_data`: last sequence number of the range (inclusive).
    pub data: u32,
}

impl ExtendedErr {
    /// Reads a record from its native-endian bytes; `None` if too short.
    pub fn from_bytes(b: &[u8]) -> Option<ExtendedErr> {
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
        (b.len() >= SOCK_EXTENDED_ERR_LEN).then(|| ExtendedErr {
            errno: u32_at(0),
            origin: b[4],
            kind: b[5],
            code: b[6],
            info: u32_at(8),
            data: u32_at(12),
        })
    }

    /// The record's native-endian bytes (tests build control data with it).
    pub fn to_bytes(self) -> [u8; SOCK_EXTENDED_ERR_LEN] {
        let mut b = [0u8; SOCK_EXTENDED_ERR_LEN];
        b[0..4].copy_from_slice(&self.errno.to_ne_bytes());
        b[4] = self.origin;
        b[5] = self.kind;
        b[6] = self.code;
        b[8..12].copy_from_slice(&self.info.to_ne_bytes());
        b[12..16].copy_from_slice(&self.data.to_ne_bytes());
        b
    }

    /// A zero-copy completion notification for `first..=last`.
    pub fn zerocopy(first: u32, last: u32, copied: bool) -> ExtendedErr {
        ExtendedErr {
            errno: 0,
            origin: SO_EE_ORIGIN_ZEROCOPY,
            kind: 0,
            code: if copied {
                SO_EE_CODE_ZEROCOPY_COPIED
            } else {
                0
            },
            info: first,
            data: last,
        }
    }
}

/// A completion notification: sends `first..=last` (wrapping) are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// First sequence number covered.
    pub first: u32,
    /// Last sequence number covered (inclusive, may have wrapped).
    pub last: u32,
    /// The kernel copied the data instead of sending from the user pages.
    pub copied: bool,
}

impl Completion {
    /// Number of sends the range covers (it may wrap past `u32::MAX`).
    pub fn count(&self) -> u64 {
        u64::from(self.last.wrapping_sub(self.first)) + 1
    }
}

/// A malformed or unexpected error-queue message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrQueueError {
    /// The control data could not be parsed.
    #[error("error-queue control data is malformed: {0}")]
    Malformed(String),
    /// A real socket error, not a completion.
    #[error("the socket reported an error that is not a zero-copy completion: origin {origin}, errno {errno} ({})", std::io::Error::from_raw_os_error(*errno as i32))]
    NotZeroCopy {
        /// `ee_origin`.
        origin: u8,
        /// `ee_errno`.
        errno: u32,
    },
    /// A completion for sends that were never made or already completed.
    #[error("a completion for sends {first}..={last} arrived, but those were not in flight (next sequence {next}, all before {done} done)")]
    Unexpected {
        /// First sequence number of the range.
        first: u32,
        /// Last sequence number of the range.
        last: u32,
        /// The next sequence number a send would take.
        next: u32,
        /// Every send before this one completed.
        done: u32,
    },
}

/// `cmsghdr` layout: a `size_t` length, then `int` level and type; data and the next header
/// start at `size_t` alignment.
const CMSG_ALIGN: usize = std::mem::size_of::<usize>();
const CMSG_HDR_LEN: usize = std::mem::size_of::<usize>() + 8;

fn cmsg_align(n: usize) -> usize {
    n.div_ceil(CMSG_ALIGN) * CMSG_ALIGN
}

fn is_recverr(level: i32, kind: i32) -> bool {
    (level == libc::SOL_IP && kind == libc::IP_RECVERR)
        || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR)
}

/// Parses the control data of one error-queue message into zero-copy completions.
pub fn parse_control(control: &[u8]) -> Result<Vec<Completion>, ErrQueueError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + CMSG_HDR_LEN <= control.len() {
        let len = usize::from_ne_bytes(control[at..at + CMSG_ALIGN].try_into().unwrap());
        let level = i32::from_ne_bytes(
            control[at + CMSG_ALIGN..at + CMSG_ALIGN + 4]
                .try_into()
                .unwrap(),
        );
        let kind = i32::from_ne_bytes(
            control[at + CMSG_ALIGN + 4..at + CMSG_HDR_LEN]
                .try_into()
                .unwrap(),
        );
        if len < CMSG_HDR_LEN || at + len > control.len() {
            return Err(ErrQueueError::Malformed(format!(
                "control message at byte {at} claims {len} bytes of {}",
                control.len()
            )));
        }
        let data = &control[at + cmsg_align(CMSG_HDR_LEN)..at + len];
        if is_recverr(level, kind) {
            let ee = ExtendedErr::from_bytes(data).ok_or_else(|| {
                ErrQueueError::Malformed(format!("sock_extended_err of {} bytes", data.len()))
            })?;
            if ee.origin != SO_EE_ORIGIN_ZEROCOPY || ee.errno != 0 {
                return Err(ErrQueueError::NotZeroCopy {
                    origin: ee.origin,
                    errno: ee.errno,
                });
            }
            out.push(Completion {
                first: ee.info,
                last: ee.data,
                copied: ee.code & SO_EE_CODE_ZEROCOPY_COPIED != 0,
            });
        }
        at += cmsg_align(len);
    }
    Ok(out)
}

/// Builds control data as the kernel would: one `IP_RECVERR` control message per entry.
/// For tests of the parser and the tracker.
pub fn build_control(entries: &[ExtendedErr]) -> Vec<u8> {
    let mut out = Vec::new();
    for ee in entries {
        let len = cmsg_align(CMSG_HDR_LEN) + SOCK_EXTENDED_ERR_LEN;
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&libc::SOL_IP.to_ne_bytes());
        out.extend_from_slice(&libc::IP_RECVERR.to_ne_bytes());
        out.resize(out.len() + cmsg_align(CMSG_HDR_LEN) - CMSG_HDR_LEN, 0);
        out.extend_from_slice(&ee.to_bytes());
        out.resize(cmsg_align(out.len()), 0);
    }
    out
}

/// True if `a` comes before `b` in wrapping 32-bit sequence order.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Which of a socket's zero-copy sends have completed.
///
/// Keeps a low-water mark (every sequence before it completed) and the few ranges that
/// completed out of order above it; all arithmetic wraps at 2^32.
#[derive(Debug, Clone)]
pub struct CompletionTracker {
    next: u32,
    done: u32,
    out_of_order: Vec<(u32, u32)>,
}

impl Default for CompletionTracker {
    fn default() -> Self {
        // The kernel numbers a socket's zero-copy sends from 0.
        CompletionTracker::starting_at(0)
    }
}

impl CompletionTracker {
    /// A tracker whose first send gets sequence `first` (tests start near `u32::MAX`).
    pub fn starting_at(first: u32) -> CompletionTracker {
        CompletionTracker {
            next: first,
            done: first,
            out_of_order: Vec::new(),
        }
    }

    /// Records a send that moved at least one byte; returns its sequence number.
    pub fn on_send(&mut self) -> u32 {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        seq
    }

    /// Records a completion range; errors if it covers sends that are not in flight.
    pub fn on_completion(&mut self, c: &Completion) -> Result<(), ErrQueueError> {
        let in_flight = |s: u32| !before(s, self.done) && before(s, self.next);
        let overlaps_known = self
            .out_of_order
            .iter()
            .any(|&(a, b)| !(before(c.last, a) || before(b, c.first)));
        if !in_flight(c.first) || !in_flight(c.last) || before(c.last, c.first) || overlaps_known {
            return Err(ErrQueueError::Unexpected {
                first: c.first,
                last: c.last,
                next: self.next,
                done: self.done,
            });
        }
        if c.first == self.done {
            self.done = c.last.wrapping_add(1);
            // Absorb ranges that completed early and now touch the low-water mark.
            while let Some(i) = self.out_of_order.iter().position(|&(a, _)| a == self.done) {
                let (_, b) = self.out_of_order.swap_remove(i);
                self.done = b.wrapping_add(1);
            }
        } else {
            self.out_of_order.push((c.first, c.last));
        }
        Ok(())
    }

    /// True if send `seq` and every send before it completed.
    pub fn completed_through(&self, seq: u32) -> bool {
        before(seq, self.done)
    }

    /// Sends not yet known complete.
    pub fn outstanding(&self) -> u64 {
        let ooo: u64 = self
            .out_of_order
            .iter()
            .map(|&(a, b)| u64::from(b.wrapping_sub(a)) + 1)
            .sum();
        u64::from(self.next.wrapping_sub(self.done)) - ooo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_several_notifications() {
        let control = build_control(&[
            ExtendedErr::zerocopy(0, 0, false),
            ExtendedErr::zerocopy(1, 9, true),
        ]);
        let got = parse_control(&control).unwrap();
        assert_eq!(
            got,
            vec![
                Completion {
                    first: 0,
                    last: 0,
                    copied: false
                },
                Completion {
                    first: 1,
                    last: 9,
                    copied: true
                },
            ]
        );
        assert_eq!(got[1].count(), 9);
    }

    #[test]
    fn a_wrapping_range_counts_right() {
        let c = parse_control(&build_control(&[ExtendedErr::zerocopy(
            u32::MAX - 1,
            2,
            true,
        )]))
        .unwrap()[0];
        assert_eq!(c.count(), 5);
    }

    #[test]
    fn other_errors_and_garbage_are_refused() {
        let icmp = ExtendedErr {
            errno: libc::EHOSTUNREACH as u32,
            origin: 2,
            kind: 3,
            code: 1,
            info: 0,
            data: 0,
        };
        assert!(matches!(
            parse_control(&build_control(&[icmp])),
            Err(ErrQueueError::NotZeroCopy { origin: 2, .. })
        ));
        let mut control = build_control(&[ExtendedErr::zerocopy(0, 0, false)]);
        control[0] = 200; // length past the end
        assert!(matches!(
            parse_control(&control),
            Err(ErrQueueError::Malformed(_))
        ));
        let mut short = build_control(&[ExtendedErr::zerocopy(0, 0, false)]);
        let hdr = cmsg_align(CMSG_HDR_LEN);
        short[..CMSG_ALIGN].copy_from_slice(&(hdr + 4).to_ne_bytes());
        assert!(matches!(
            parse_control(&short),
            Err(ErrQueueError::Malformed(_))
        ));
        assert_eq!(parse_control(&[]).unwrap(), vec![]);
    }

    #[test]
    fn tracker_in_order_and_coalesced() {
        let mut t = CompletionTracker::default();
        let seqs: Vec<u32> = (0..10).map(|_| t.on_send()).collect();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        assert_eq!(t.outstanding(), 10);
        t.on_completion(&Completion {
            first: 0,
            last: 3,
            copied: true,
        })
        .unwrap();
        assert!(t.completed_through(3));
        assert!(!t.completed_through(4));
        t.on_completion(&Completion {
            first: 4,
            last: 9,
            copied: true,
        })
        .unwrap();
        assert!(t.completed_through(9));
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn tracker_wraps_around_u32() {
        let mut t = CompletionTracker::starting_at(u32::MAX - 2);
        let seqs: Vec<u32> = (0..6).map(|_| t.on_send()).collect();
        assert_eq!(seqs, vec![u32::MAX - 2, u32::MAX - 1, u32::MAX, 0, 1, 2]);
        t.on_completion(&Completion {
            first: u32::MAX - 2,
            last: 0,
            copied: false,
        })
        .unwrap();
        assert!(t.completed_through(u32::MAX));
        assert!(t.completed_through(0));
        assert!(!t.completed_through(1));
        assert_eq!(t.outstanding(), 2);
        t.on_completion(&Completion {
            first: 1,
            last: 2,
            copied: false,
        })
        .unwrap();
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn tracker_out_of_order_ranges_merge() {
        let mut t = CompletionTracker::default();
        (0..10).for_each(|_| {
            t.on_send();
        });
        t.on_completion(&Completion {
            first: 5,
            last: 6,
            copied: false,
        })
        .unwrap();
        t.on_completion(&Completion {
            first: 2,
            last: 4,
            copied: false,
        })
        .unwrap();
        assert!(!t.completed_through(0));
        assert_eq!(t.outstanding(), 5);
        t.on_completion(&Completion {
            first: 0,
            last: 1,
            copied: false,
        })
        .unwrap();
        assert!(t.completed_through(6));
        assert!(!t.completed_through(7));
        assert_eq!(t.outstanding(), 3);
    }

    #[test]
    fn tracker_refuses_duplicates_and_unsent() {
        let mut t = CompletionTracker::default();
        (0..4).for_each(|_| {
            t.on_send();
        });
        t.on_completion(&Completion {
            first: 0,
            last: 1,
            copied: false,
        })
        .unwrap();
        for bad in [(0, 0), (1, 2), (3, 4), (10, 12), (3, 2)] {
            let c = Completion {
                first: bad.0,
                last: bad.1,
                copied: false,
            };
            assert!(t.on_completion(&c).is_err(), "{bad:?}");
        }
        t.on_completion(&Completion {
            first: 3,
            last: 3,
            copied: false,
        })
        .unwrap();
        assert!(t
            .on_completion(&Completion {
                first: 3,
                last: 3,
                copied: false
            })
            .is_err());
    }
}
