//! The message model: a message is `fields` separately allocated buffers whose sizes add up to
//! the message size, filled with the connection's verifiable pattern (see [`crate::pattern`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::pattern::{self, STAMP_LEN};
use crate::units::ParseError;

/// The page size buffers are placed against.
pub const PAGE_SIZE: usize = 4096;

/// Where buffers start relative to a page boundary.
///
/// On some CPUs (AMD Zen 3 among them) `memcpy` between two buffers whose addresses are equal
/// modulo 4096 runs an order of magnitude slower ("4K aliasing"), so where the fields sit is a
/// parameter of the experiment, recorded with every result, and not left to the allocator.
///
/// In results it is written as its command-line spelling (`"page"`, `"offset:96"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Align {
    /// Every field starts on a page boundary (as does the two-copy gather buffer): the gather
    /// copy then meets 4K aliasing whenever a field's offset in the message is a page multiple.
    Page,
    /// Every field starts this many bytes (1..4096) past a page boundary; the gather buffer stays
    /// page-aligned.
    Offset(usize),
}

impl Default for Align {
    /// Fields a cache line and a half past the page: no 4K aliasing against the page-aligned
    /// gather buffer, and not cache-line aligned either (as `malloc` would give).
    fn default() -> Self {
        Align::Offset(96)
    }
}

impl Align {
    fn offset(self) -> usize {
        match self {
            Align::Page => 0,
            Align::Offset(n) => n,
        }
    }
}

impl fmt::Display for Align {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Align::Page => f.write_str("page"),
            Align::Offset(n) => write!(f, "offset:{n}"),
        }
    }
}

impl From<Align> for String {
    fn from(align: Align) -> String {
        align.to_string()
    }
}

impl TryFrom<String> for Align {
    type Error = ParseError;

    fn try_from(s: String) -> Result<Align, ParseError> {
        s.parse()
    }
}

impl FromStr for Align {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "page" {
            return Ok(Align::Page);
        }
        let bad = || {
            ParseError(format!(
                "'{s}' is not a placement: use 'page' or 'offset:N' with N in 1..=4095"
            ))
        };
        let n: usize = s
            .strip_prefix("offset:")
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if (1..PAGE_SIZE).contains(&n) {
            Ok(Align::Offset(n))
        } else {
            Err(bad())
        }
    }
}

/// A heap buffer that starts at a chosen offset from a page boundary.
pub struct PlacedBuf {
    storage: Box<[u8]>,
    start: usize,
    len: usize,
}

impl PlacedBuf {
    /// A zeroed buffer of `len` bytes starting `offset` bytes past a page boundary.
    /// Over-allocates by up to a page and picks the start inside, which needs no `unsafe`.
    pub fn new(len: usize, offset: usize) -> PlacedBuf {
        debug_assert!(offset < PAGE_SIZE);
        let storage = vec![0u8; len + offset + PAGE_SIZE].into_boxed_slice();
        let to_page = storage.as_ptr().align_offset(PAGE_SIZE);
        PlacedBuf {
            storage,
            start: to_page + offset,
            len,
        }
    }

    /// The buffer's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The buffer's bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a buffer of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for PlacedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PlacedBuf {{ len: {}, page_offset: {} }}",
            self.len,
            self.as_slice().as_ptr() as usize % PAGE_SIZE
        )
    }
}

/// How a message of `msg_size` bytes splits into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    field_sizes: Vec<usize>,
}

impl Layout {
    /// `fields` fields whose sizes add up to exactly `msg_size`: the first `msg_size % fields`
    /// fields are one byte longer. A message smaller than `fields` bytes gets one field per byte
    /// (no empty fields: an empty iovec would be a send strategy nobody uses).
    pub fn new(msg_size: usize, fields: usize) -> Layout {
        assert!(
            msg_size > 0 && fields > 0,
            "message size and field count must be positive"
        );
        let n = fields.min(msg_size);
        let (each, extra) = (msg_size / n, msg_size % n);
        Layout {
            field_sizes: (0..n).map(|i| each + usize::from(i < extra)).collect(),
        }
    }

    /// Each field's size in bytes, in order.
    pub fn field_sizes(&self) -> &[usize] {
        &self.field_sizes
    }

    /// Number of fields.
    pub fn fields(&self) -> usize {
        self.field_sizes.len()
    }

    /// The message size: the fields' sizes added up.
    pub fn msg_size(&self) -> usize {
        self.field_sizes.iter().sum()
    }
}

/// One message: its fields, each its own allocation, holding the connection's pattern.
#[derive(Debug)]
pub struct Message {
    fields: Vec<PlacedBuf>,
    /// The stamp's bytes live in the first fields; (field, offset in field) of each stamp byte.
    stamp_slots: Vec<(usize, usize)>,
    conn: u64,
}

impl Message {
    /// A message laid out as `layout`, placed as `align`, carrying connection `conn`'s pattern
    /// and the stamp of message 0.
    pub fn new(layout: &Layout, align: Align, conn: u64) -> Message {
        let base = pattern::base_pattern(conn, layout.msg_size());
        let mut fields = Vec::with_capacity(layout.fields());
        let mut stamp_slots = Vec::new();
        let mut at = 0;
        for (index, &size) in layout.field_sizes().iter().enumerate() {
            let mut buf = PlacedBuf::new(size, align.offset());
            buf.as_mut_slice().copy_from_slice(&base[at..at + size]);
            for offset in 0..size {
                if at + offset < STAMP_LEN {
                    stamp_slots.push((index, offset));
                }
            }
            at += size;
            fields.push(buf);
        }
        let mut msg = Message {
            fields,
            stamp_slots,
            conn,
        };
        msg.stamp(0);
        msg
    }

    /// Marks this buffer as message number `seq` of its connection. Writes at most
    /// [`STAMP_LEN`] bytes: the only per-message write to the payload.
    #[inline]
    pub fn stamp(&mut self, seq: u64) {
        let stamp = pattern::stamp(self.conn, seq);
        for (i, &(field, offset)) in self.stamp_slots.iter().enumerate() {
            self.fields[field].as_mut_slice()[offset] = stamp[i];
        }
    }

    /// Flips a bit of the first payload byte: used by tests to prove the receiver's check fails.
    #[doc(hidden)]
    pub fn corrupt_first_byte(&mut self) {
        self.fields[0].as_mut_slice()[0] ^= 0x40;
    }

    /// The fields, in message order.
    pub fn fields(&self) -> &[PlacedBuf] {
        &self.fields
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.fields.iter().map(PlacedBuf::len).sum()
    }

    /// True for a buffer of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message as one contiguous vector (tests, small checks; not the send path).
    pub fn to_vec(&self) -> Vec<u8> {
        self.fields
            .iter()
            .flat_map(|f| f.as_slice().iter().copied())
            .collect()
    }
}

/// Default number of message buffers per connection: about 8 MiB worth, at least 4 and at most 256.
/// Zero-copy needs enough buffers in flight to keep the pipe full while completions come back;
/// every strategy gets the same pool so that all touch the same amount of memory.
pub fn default_pool_size(msg_size: usize) -> usize {
    ((8 << 20) / msg_size.max(1)).clamp(4, 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_sizes_add_up_exactly() {
        for (size, fields) in [
            (1, 8),
            (7, 8),
            (8, 8),
            (1000, 8),
            (1001, 8),
            (65537, 3),
            (5, 1),
        ] {
            let layout = Layout::new(size, fields);
            assert_eq!(layout.msg_size(), size);
            assert_eq!(layout.fields(), fields.min(size));
            assert!(layout.field_sizes().iter().all(|&s| s > 0));
            let (min, max) = (
                layout.field_sizes().iter().min().unwrap(),
                layout.field_sizes().iter().max().unwrap(),
            );
            assert!(max - min <= 1);
        }
    }

    #[test]
    fn a_message_carries_the_expected_pattern() {
        for size in [1, 3, 8, 9, 1001, 4096] {
            let layout = Layout::new(size, 8);
            let mut msg = Message::new(&layout, Align::default(), 5);
            assert_eq!(msg.to_vec(), pattern::expected_message(5, 0, size));
            msg.stamp(77);
            assert_eq!(msg.to_vec(), pattern::expected_message(5, 77, size));
        }
    }

    #[test]
    fn fields_sit_where_asked() {
        let layout = Layout::new(64 * 1024, 8);
        for (align, offset) in [
            (Align::Page, 0),
            (Align::Offset(96), 96),
            (Align::Offset(4095), 4095),
        ] {
            let msg = Message::new(&layout, align, 0);
            for f in msg.fields() {
                assert_eq!(f.as_slice().as_ptr() as usize % PAGE_SIZE, offset);
            }
        }
    }

    #[test]
    fn align_parses() {
        assert_eq!("page".parse::<Align>().unwrap(), Align::Page);
        assert_eq!("offset:64".parse::<Align>().unwrap(), Align::Offset(64));
        for bad in ["", "offset:0", "offset:4096", "offset:x", "cache"] {
            assert!(bad.parse::<Align>().is_err(), "{bad}");
        }
        assert_eq!(
            Align::Offset(7).to_string().parse::<Align>().unwrap(),
            Align::Offset(7)
        );
    }

    #[test]
    fn pool_default_is_bounded() {
        assert_eq!(default_pool_size(1), 256);
        assert_eq!(default_pool_size(64 << 10), 128);
        assert_eq!(default_pool_size(16 << 20), 4);
    }
}
