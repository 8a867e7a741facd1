//! The verifiable byte pattern every message carries, and the receiver's check of it.
//!
//! Byte `i` of message `seq` on connection `conn` is
//! - for `i < STAMP_LEN`: byte `i` of the little-endian *stamp* `stamp(conn, seq)`;
//! - otherwise: byte `i` of the connection's *base pattern*, a pseudo-random sequence seeded by
//!   `conn` that does not repeat with any short period.
//!
//! The sender fills its buffers with the base pattern once and rewrites only the stamp when it
//! reuses a buffer, so generating the pattern costs almost nothing on the measured path. The stamp
//! changes with every message, so a buffer rewritten before the kernel was done with it (the
//! classic MSG_ZEROCOPY bug), a lost, repeated or reordered message, or shifted bytes all show up
//! as a mismatch at the receiver.

/// Leading bytes of each message that carry the per-message stamp.
pub const STAMP_LEN: usize = 8;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The stamp of message `seq` on connection `conn`; never all zero bytes for small `seq`.
pub fn stamp(conn: u64, seq: u64) -> [u8; STAMP_LEN] {
    splitmix64(seq ^ conn.rotate_left(40) ^ 0x5EED).to_le_bytes()
}

/// The inverse of [`splitmix64`] (each of its steps is a bijection on u64).
fn unsplitmix64(mut x: u64) -> u64 {
    /// The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits).
    const fn inverse(c: u64) -> u64 {
        let mut inv = c;
        let mut i = 0;
        while i < 6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(c.wrapping_mul(inv)));
            i += 1;
        }
        inv
    }
    x = x ^ (x >> 31) ^ (x >> 62);
    x = x.wrapping_mul(inverse(0x94D0_49BB_1331_11EB));
    x = x ^ (x >> 27) ^ (x >> 54);
    x = x.wrapping_mul(inverse(0xBF58_476D_1CE4_E5B9));
    x = x ^ (x >> 30) ^ (x >> 60);
    x.wrapping_sub(0x9E37_79B9_7F4A_7C15)
}

/// Which message of connection `conn` a full stamp names (the inverse of [`stamp`]), for
/// datagrams, which arrive one by one and may be lost or reordered.
pub fn message_number(conn: u64, stamp_bytes: [u8; STAMP_LEN]) -> u64 {
    unsplitmix64(u64::from_le_bytes(stamp_bytes)) ^ conn.rotate_left(40) ^ 0x5EED
}

/// The base pattern of connection `conn` for a message of `len` bytes.
pub fn base_pattern(conn: u64, len: usize) -> Vec<u8> {
    let seed = splitmix64(conn ^ 0xC0FF_EE00);
    let mut out = Vec::with_capacity(len + 8);
    let mut word = 0u64;
    while out.len() < len {
        out.extend_from_slice(&splitmix64(seed ^ word).to_le_bytes());
        word += 1;
    }
    out.truncate(len);
    out
}

/// The whole expected message (for tests and small checks).
pub fn expected_message(conn: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut msg = base_pattern(conn, len);
    let n = len.min(STAMP_LEN);
    msg[..n].copy_from_slice(&stamp(conn, seq)[..n]);
    msg
}

/// Where the received stream first differed from the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Offset of the first wrong byte in the connection's byte stream.
    pub stream_offset: u64,
    /// The byte the pattern has there.
    pub expected: u8,
    /// The byte received.
    pub got: u8,
}

/// Checks a connection's received byte stream, chunk by chunk, against the pattern.
#[derive(Debug)]
pub struct Verifier {
    conn: u64,
    msg_size: usize,
    base: Vec<u8>,
    /// Bytes checked so far (the stream offset of the next byte).
    position: u64,
    /// Message sequence number and offset within it of the next byte.
    seq: u64,
    offset: usize,
    current_stamp: [u8; STAMP_LEN],
    first_mismatch: Option<Mismatch>,
}

impl Verifier {
    /// A verifier for connection `conn`'s stream of `msg_size`-byte messages.
    pub fn new(conn: u64, msg_size: usize) -> Verifier {
        assert!(msg_size > 0, "message size must be positive");
        Verifier {
            conn,
            msg_size,
            base: base_pattern(conn, msg_size),
            position: 0,
            seq: 0,
            offset: 0,
            current_stamp: stamp(conn, 0),
            first_mismatch: None,
        }
    }

    /// Checks the next `chunk` of the stream. Once a mismatch was found, later bytes are only
    /// counted (the first difference is what matters, and checking garbage wastes receiver CPU).
    pub fn check(&mut self, chunk: &[u8]) {
        self.check_parts(chunk, true);
    }

    /// Checks only the stamp (the first [`STAMP_LEN`] bytes) of each message in the next
    /// `chunk`: every message's identity and order, not its payload (`--verify stamps`).
    pub fn check_stamps(&mut self, chunk: &[u8]) {
        self.check_parts(chunk, false);
    }

    /// Moves past the next `n` bytes without looking at them, keeping track of message
    /// boundaries (`--verify off` and `discard`).
    pub fn skip(&mut self, n: usize) {
        self.advance_counting_only(n);
    }

    fn check_parts(&mut self, mut chunk: &[u8], payload: bool) {
        if self.first_mismatch.is_some() {
            self.advance_counting_only(chunk.len());
            return;
        }
        while !chunk.is_empty() {
            let take = chunk.len().min(self.msg_size - self.offset);
            let (head, rest) = chunk.split_at(take);
            if let Some(bad) = self.check_within_message(head, payload) {
                let got = head[bad];
                let expected = self.expected_byte(self.offset + bad);
                self.first_mismatch = Some(Mismatch {
                    stream_offset: self.position + bad as u64,
                    expected,
                    got,
                });
                self.advance_counting_only(chunk.len());
                return;
            }
            self.position += take as u64;
            self.offset += take;
            if self.offset == self.msg_size {
                self.offset = 0;
                self.seq += 1;
                self.current_stamp = stamp(self.conn, self.seq);
            }
            chunk = rest;
        }
    }

    /// Moves past `n` bytes without checking them, keeping track of message boundaries.
    fn advance_counting_only(&mut self, n: usize) {
        self.position += n as u64;
        let end = self.offset as u64 + n as u64;
        self.seq += end / self.msg_size as u64;
        self.offset = (end % self.msg_size as u64) as usize;
    }

    fn expected_byte(&self, offset: usize) -> u8 {
        if offset < STAMP_LEN {
            self.current_stamp[offset]
        } else {
            self.base[offset]
        }
    }

    /// Index in `part` of the first wrong byte; `part` lies within the current message. Only
    /// the stamp is looked at unless `payload`.
    fn check_within_message(&self, part: &[u8], payload: bool) -> Option<usize> {
        let start = self.offset;
        let stamped = STAMP_LEN.saturating_sub(start).min(part.len());
        for (i, &b) in part[..stamped].iter().enumerate() {
            if b != self.current_stamp[start + i] {
                return Some(i);
            }
        }
        if !payload {
            return None;
        }
        let rest = &part[stamped..];
        let expected = &self.base[start + stamped..start + stamped + rest.len()];
        // Compare as a whole first (memcmp speed); find the byte only on failure.
        if rest == expected {
            None
        } else {
            rest.iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .map(|i| i + stamped)
        }
    }

    /// Offset within the current message of the next byte expected.
    pub fn message_offset(&self) -> usize {
        self.offset
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.position
    }

    /// Whole messages seen so far (counted by length after a mismatch).
    pub fn messages(&self) -> u64 {
        self.seq
    }

    /// The first wrong byte, if any.
    pub fn first_mismatch(&self) -> Option<Mismatch> {
        self.first_mismatch
    }

    /// True if every byte matched and the stream ended on a message boundary.
    pub fn clean_end(&self) -> bool {
        self.first_mismatch.is_none() && self.offset == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_names_its_message() {
        for conn in [0, 1, 7, 255] {
            for seq in [0, 1, 2, 1000, u64::from(u32::MAX) + 5, u64::MAX] {
                assert_eq!(message_number(conn, stamp(conn, seq)), seq);
            }
        }
        assert_ne!(
            message_number(1, stamp(2, 5)),
            5,
            "another connection's stamp"
        );
    }

    fn stream(conn: u64, msg_size: usize, messages: u64) -> Vec<u8> {
        (0..messages)
            .flat_map(|seq| expected_message(conn, seq, msg_size))
            .collect()
    }

    #[test]
    fn a_correct_stream_verifies_in_any_chunking() {
        for msg_size in [1, 3, 7, 8, 9, 100, 4096] {
            let data = stream(3, msg_size, 20);
            for chunk in [1, 2, 5, 8, 13, 4096, 1 << 20] {
                let mut v = Verifier::new(3, msg_size);
                data.chunks(chunk).for_each(|c| v.check(c));
                assert!(v.clean_end(), "size {msg_size} chunk {chunk}");
                assert_eq!(v.bytes(), data.len() as u64);
                assert_eq!(v.messages(), 20);
            }
        }
    }

    #[test]
    fn every_corrupted_byte_position_is_found() {
        let msg_size = 37;
        let data = stream(1, msg_size, 4);
        for pos in 0..data.len() {
            let mut bad = data.clone();
            bad[pos] ^= 0x01;
            let mut v = Verifier::new(1, msg_size);
            bad.chunks(10).for_each(|c| v.check(c));
            let m = v.first_mismatch().expect("corruption must be found");
            assert_eq!(m.stream_offset, pos as u64);
            assert_eq!(m.got, bad[pos]);
            assert_eq!(m.expected, data[pos]);
            assert!(!v.clean_end());
        }
    }

    #[test]
    fn lost_repeated_or_other_connections_messages_are_found() {
        let msg_size = 64;
        let data = stream(1, msg_size, 4);
        // A message lost.
        let mut lost = data[..msg_size].to_vec();
        lost.extend_from_slice(&data[2 * msg_size..]);
        // A message repeated.
        let mut repeated = data[..2 * msg_size].to_vec();
        repeated.extend_from_slice(&data[msg_size..]);
        // One byte skipped.
        let mut skipped = data.clone();
        skipped.remove(20);
        for bad in [lost, repeated, skipped, stream(2, msg_size, 4)] {
            let mut v = Verifier::new(1, msg_size);
            v.check(&bad);
            assert!(v.first_mismatch().is_some());
        }
    }

    #[test]
    fn stamps_find_lost_or_reordered_messages_but_not_payload_damage() {
        let msg_size = 64;
        let data = stream(1, msg_size, 4);
        for chunk in [1, 7, 64, 100, 1000] {
            let mut v = Verifier::new(1, msg_size);
            data.chunks(chunk).for_each(|c| v.check_stamps(c));
            assert!(v.clean_end(), "chunk {chunk}");
            assert_eq!(v.messages(), 4);
        }
        let mut payload = data.clone();
        payload[msg_size + 20] ^= 1;
        let mut v = Verifier::new(1, msg_size);
        v.check_stamps(&payload);
        assert!(v.clean_end(), "stamps do not look at the payload");
        let mut lost = data[..msg_size].to_vec();
        lost.extend_from_slice(&data[2 * msg_size..]);
        let mut v = Verifier::new(1, msg_size);
        lost.chunks(10).for_each(|c| v.check_stamps(c));
        assert_eq!(v.first_mismatch().unwrap().stream_offset, msg_size as u64);
    }

    #[test]
    fn skipping_keeps_message_boundaries() {
        let mut v = Verifier::new(0, 10);
        v.skip(25);
        assert_eq!((v.messages(), v.message_offset(), v.bytes()), (2, 5, 25));
        assert!(!v.clean_end());
        v.skip(5);
        assert!(v.clean_end());
    }

    #[test]
    fn a_stream_cut_mid_message_is_not_clean() {
        let data = stream(1, 10, 3);
        let mut v = Verifier::new(1, 10);
        v.check(&data[..25]);
        assert!(v.first_mismatch().is_none());
        assert!(!v.clean_end());
    }

    #[test]
    fn one_byte_messages_differ_from_message_to_message() {
        let firsts: std::collections::HashSet<u8> = (0..64).map(|s| stamp(0, s)[0]).collect();
        assert!(firsts.len() > 32);
    }
}
