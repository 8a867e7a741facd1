//! The message model: a message is `fields` separately allocated buffers whose sizes add up to
//! the message size, filled with the connection's verifiable pattern (see [`crate::pattern`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::mapping::{MappedBuf, Mapping};
use crate::pattern::{self, STAMP_LEN};
use crate::units::ParseError;

/// The page size buffers are placed against.
pub const PAGE_SIZE: usize = 4096;

/// Where a message's fields sit in memory.
///
/// The default, [`Align::Packed`], is how a real program holds a message: its fields back to
/// back in one allocation, as a general-purpose allocator places small objects. The other two
/// give every field its own allocation at a chosen offset from a page boundary, for the 4K
/// aliasing experiment: on some CPUs (AMD Zen 3 among them) `memcpy` between two buffers whose
/// addresses are equal modulo 4096 runs an order of magnitude slower, so where the fields sit
/// is a parameter of the experiment, recorded with every result, and not left to chance.
/// (Fields on pages of their own also cost every strategy TLB reach, and zero-copy more pages
/// to pin and more fragments per send: a bias the packed default avoids.)
///
/// In results it is written as its command-line spelling (`"packed"`, `"page"`, `"offset:96"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Align {
    /// All fields of a message in one allocation, back to back, each starting 16-byte aligned.
    Packed,
    /// Every field its own allocation, starting on a page boundary (as does the two-copy gather buffer): the gather
    /// copy then meets 4K aliasing whenever a field's offset in the message is a page multiple.
    Page,
    /// Every field starts this many bytes (1..4096) past a page boundary; the gather buffer stays
    /// page-aligned.
    Offset(usize),
}

impl Default for Align {
    /// Packed, as a program's own messages are.
    fn default() -> Self {
        Align::Packed
    }
}

/// Alignment of each field in a packed message: what `malloc` guarantees on 64-bit Linux.
pub const PACKED_FIELD_ALIGN: usize = 16;

impl fmt::Display for Align {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Align::Packed => f.write_str("packed"),
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
        match s.as_str() {
            "packed" => return Ok(Align::Packed),
            "page" => return Ok(Align::Page),
            _ => {}
        }
        let bad = || {
            ParseError(format!(
                "'{s}' is not a placement: use 'packed', 'page' or 'offset:N' with N in 1..=4095"
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

    /// A zeroed buffer of `len` bytes where the allocator puts it, started at the next
    /// `align`-byte boundary (as `malloc` would align it): no page placement.
    pub fn aligned(len: usize, align: usize) -> PlacedBuf {
        let storage = vec![0u8; len + align].into_boxed_slice();
        let start = storage.as_ptr().align_offset(align);
        PlacedBuf {
            storage,
            start,
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

/// Where a message's bytes live.
#[derive(Debug)]
enum Storage {
    /// Every field its own allocation (`Align::Page`, `Align::Offset`).
    Apart(Vec<Buf>),
    /// One allocation; each field is `(start, len)` inside it (`Align::Packed`).
    Packed {
        buf: Buf,
        fields: Vec<(usize, usize)>,
    },
}

/// One allocation: from the heap, or carved from a pool's mapping (memory file, huge pages).
#[derive(Debug)]
enum Buf {
    Heap(PlacedBuf),
    Mapped(MappedBuf),
}

impl Buf {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Buf::Heap(b) => b.as_slice(),
            Buf::Mapped(b) => b.as_slice(),
        }
    }

    #[inline]
    fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Buf::Heap(b) => b.as_mut_slice(),
            Buf::Mapped(b) => b.as_mut_slice(),
        }
    }
}

/// One message: its fields, placed as asked, holding the connection's pattern.
#[derive(Debug)]
pub struct Message {
    storage: Storage,
    /// The stamp's bytes live in the first fields; (field, offset in field) of each stamp byte.
    stamp_slots: Vec<(usize, usize)>,
    conn: u64,
}

impl Message {
    /// A message laid out as `layout`, placed as `align`, carrying connection `conn`'s pattern
    /// and the stamp of message 0.
    pub fn new(layout: &Layout, align: Align, conn: u64) -> Message {
        let sizes = layout.field_sizes();
        let storage = match align {
            Align::Packed => {
                let mut fields = Vec::with_capacity(sizes.len());
                let mut end = 0usize;
                for &size in sizes {
                    let start = end.next_multiple_of(PACKED_FIELD_ALIGN);
                    fields.push((start, size));
                    end = start + size;
                }
                Storage::Packed {
                    buf: Buf::Heap(PlacedBuf::aligned(end, PACKED_FIELD_ALIGN)),
                    fields,
                }
            }
            Align::Page | Align::Offset(_) => {
                let offset = match align {
                    Align::Offset(n) => n,
                    _ => 0,
                };
                Storage::Apart(
                    sizes
                        .iter()
                        .map(|&n| Buf::Heap(PlacedBuf::new(n, offset)))
                        .collect(),
                )
            }
        };
        Message::filled(storage, layout, conn)
    }

    /// A message whose storage is set: records where the stamp goes, fills in the pattern.
    fn filled(storage: Storage, layout: &Layout, conn: u64) -> Message {
        let sizes = layout.field_sizes();
        let mut stamp_slots = Vec::new();
        let mut at = 0;
        for (index, &size) in sizes.iter().enumerate() {
            stamp_slots.extend((0..size.min(STAMP_LEN.saturating_sub(at))).map(|o| (index, o)));
            at += size;
        }
        let mut msg = Message {
            storage,
            stamp_slots,
            conn,
        };
        let base = pattern::base_pattern(conn, layout.msg_size());
        let mut at = 0;
        for index in 0..msg.field_count() {
            let field = msg.field_mut(index);
            let n = field.len();
            field.copy_from_slice(&base[at..at + n]);
            at += n;
        }
        msg.stamp(0);
        msg
    }

    /// A message carved from `map` (see [`build_pool`]); `None` when the mapping is full.
    /// In a memory file (`tight`), the fields sit back to back with no gap, so that the message
    /// is one range of the file that `sendfile` can send; otherwise as [`Message::new`] places
    /// them.
    fn in_mapping(
        layout: &Layout,
        align: Align,
        conn: u64,
        map: &std::sync::Arc<Mapping>,
        tight: bool,
    ) -> Option<Message> {
        let sizes = layout.field_sizes();
        let storage = match align {
            Align::Packed => {
                let gap = if tight { 1 } else { PACKED_FIELD_ALIGN };
                let mut fields = Vec::with_capacity(sizes.len());
                let mut end = 0usize;
                for &size in sizes {
                    let start = end.next_multiple_of(gap);
                    fields.push((start, size));
                    end = start + size;
                }
                Storage::Packed {
                    buf: Buf::Mapped(map.carve(end, PACKED_FIELD_ALIGN, 0)?),
                    fields,
                }
            }
            Align::Page | Align::Offset(_) => {
                let offset = match align {
                    Align::Offset(n) => n,
                    _ => 0,
                };
                let mut bufs = Vec::with_capacity(sizes.len());
                for &n in sizes {
                    bufs.push(Buf::Mapped(map.carve(n, PAGE_SIZE, offset)?));
                }
                Storage::Apart(bufs)
            }
        };
        Some(Message::filled(storage, layout, conn))
    }

    /// Where the message lies in its pool's memory file, when it is one range of one
    /// (`PoolMemory::MemFile`, packed): the file, the offset of the first byte, the length.
    pub fn file_range(&self) -> Option<(std::os::fd::BorrowedFd<'_>, u64, usize)> {
        match &self.storage {
            Storage::Packed {
                buf: Buf::Mapped(buf),
                fields,
            } => {
                let file = buf.mapping().file()?;
                let (first, _) = *fields.first()?;
                let (last, len) = *fields.last()?;
                let total = last + len - first;
                // Tight: the fields add up to the span, no gap the file would send too.
                (total == self.len()).then_some((file, (buf.offset() + first) as u64, total))
            }
            _ => None,
        }
    }

    /// Marks this buffer as message number `seq` of its connection. Writes at most
    /// [`STAMP_LEN`] bytes: the only per-message write to the payload.
    #[inline]
    pub fn stamp(&mut self, seq: u64) {
        let stamp = pattern::stamp(self.conn, seq);
        for (i, &byte) in stamp.iter().enumerate().take(self.stamp_slots.len()) {
            let (field, offset) = self.stamp_slots[i];
            self.field_mut(field)[offset] = byte;
        }
    }

    /// **Test hook**: flips a bit of the first payload byte, to prove the receiver's check fails.
    #[doc(hidden)]
    pub fn corrupt_first_byte(&mut self) {
        self.field_mut(0)[0] ^= 0x40;
    }

    /// Number of fields.
    pub fn field_count(&self) -> usize {
        match &self.storage {
            Storage::Apart(bufs) => bufs.len(),
            Storage::Packed { fields, .. } => fields.len(),
        }
    }

    /// Field `index`'s bytes.
    #[inline]
    pub fn field(&self, index: usize) -> &[u8] {
        match &self.storage {
            Storage::Apart(bufs) => bufs[index].as_slice(),
            Storage::Packed { buf, fields } => {
                let (start, len) = fields[index];
                &buf.as_slice()[start..start + len]
            }
        }
    }

    #[inline]
    fn field_mut(&mut self, index: usize) -> &mut [u8] {
        match &mut self.storage {
            Storage::Apart(bufs) => bufs[index].as_mut_slice(),
            Storage::Packed { buf, fields } => {
                let (start, len) = fields[index];
                &mut buf.as_mut_slice()[start..start + len]
            }
        }
    }

    /// The fields, in message order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.field_count()).map(|i| self.field(i))
    }

    /// One contiguous span of memory that holds every field, where there is one (a packed
    /// message, or a message of one field): what io_uring can register as a fixed buffer.
    pub fn region(&self) -> Option<&[u8]> {
        match &self.storage {
            Storage::Packed { buf, .. } => Some(buf.as_slice()),
            Storage::Apart(bufs) if bufs.len() == 1 => Some(bufs[0].as_slice()),
            Storage::Apart(_) => None,
        }
    }

    /// Distinct memory pages the message's fields touch: what a zero-copy send pins, and what
    /// the TLB must reach.
    pub fn pages(&self) -> usize {
        let mut pages: Vec<usize> = Vec::new();
        for field in self.fields() {
            if field.is_empty() {
                continue;
            }
            let first = field.as_ptr() as usize / PAGE_SIZE;
            let last = (field.as_ptr() as usize + field.len() - 1) / PAGE_SIZE;
            pages.extend(first..=last);
        }
        pages.sort_unstable();
        pages.dedup();
        pages.len()
    }

    /// Message size in bytes.
    pub fn len(&self) -> usize {
        self.fields().map(<[u8]>::len).sum()
    }

    /// True for a message of no bytes (never built by copybench).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message as one contiguous vector (tests, small checks; not the send path).
    pub fn to_vec(&self) -> Vec<u8> {
        self.fields().flat_map(|f| f.iter().copied()).collect()
    }
}

/// Where a pool's buffers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolMemory {
    /// Heap allocations, one (packed) or one per field (the default).
    #[default]
    Heap,
    /// One memory file (`memfd_create`) per connection, mapped shared: `sendfile` sends its
    /// pages. Packed messages only, each one range of the file.
    MemFile,
    /// One anonymous mapping per connection from 2 MiB pages (`--hugepages`): `MAP_HUGETLB`,
    /// else transparent huge pages (`madvise`).
    HugePages,
}

/// A connection's message pool and the mapping it lives in (none on the heap).
#[derive(Debug)]
pub struct Pool {
    /// The messages, slot `i` being `messages[i]`.
    pub messages: Vec<Message>,
    /// The mapping behind them (memory file, huge pages); `None` on the heap.
    pub mapping: Option<std::sync::Arc<Mapping>>,
}

/// `count` messages of `layout`, placed as `align`, carrying connection `conn`'s pattern, in
/// `memory`. The memory file and huge pages are one mapping per pool, sized by
/// [`message_footprint`]; the error says why the kernel refused one.
pub fn build_pool(
    layout: &Layout,
    align: Align,
    conn: u64,
    count: usize,
    memory: PoolMemory,
) -> Result<Pool, crate::mapping::MapError> {
    let mapping = match memory {
        PoolMemory::Heap => {
            return Ok(Pool {
                messages: (0..count)
                    .map(|_| Message::new(layout, align, conn))
                    .collect(),
                mapping: None,
            })
        }
        PoolMemory::MemFile => {
            Mapping::memfd(count.saturating_mul(message_footprint(layout, align)))?
        }
        PoolMemory::HugePages => {
            Mapping::huge(count.saturating_mul(message_footprint(layout, align)))?
        }
    };
    let tight = memory == PoolMemory::MemFile;
    let messages = (0..count)
        .map(|_| {
            Message::in_mapping(layout, align, conn, &mapping, tight)
                .expect("the mapping holds count footprints")
        })
        .collect();
    Ok(Pool {
        messages,
        mapping: Some(mapping),
    })
}

/// Memory one message of `layout` takes when placed as `align`, allocation slack included:
/// what the pool's memory bound counts (a field on a page of its own costs up to a page more).
pub fn message_footprint(layout: &Layout, align: Align) -> usize {
    match align {
        Align::Packed => {
            layout.msg_size() + layout.fields() * PACKED_FIELD_ALIGN + PACKED_FIELD_ALIGN
        }
        Align::Page | Align::Offset(_) => layout
            .field_sizes()
            .iter()
            .map(|&n| {
                n + PAGE_SIZE
                    + match align {
                        Align::Offset(o) => o,
                        _ => 0,
                    }
            })
            .sum(),
    }
}

/// Bytes a TCP socket may hold unsent or unacknowledged: `net.ipv4.tcp_wmem`'s maximum
/// (read once; 4 MiB, the kernel's default, when it cannot be read). A fresh network
/// namespace starts with the same default.
pub fn socket_send_budget() -> usize {
    static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
            .ok()
            .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
            .unwrap_or(4 << 20)
    })
}

/// Size in bytes of the largest (last-level) CPU cache of CPU 0, from
/// `/sys/devices/system/cpu/cpu0/cache/index*/size` (read once); `None` where sysfs does not
/// say. What the cold data pool must exceed.
pub fn last_level_cache() -> Option<usize> {
    static LLC: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *LLC.get_or_init(|| {
        let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
        dir.filter_map(|e| {
            let path = e.ok()?.path();
            let kind = std::fs::read_to_string(path.join("type")).ok()?;
            if kind.trim() == "Instruction" {
                return None;
            }
            parse_cache_size(&std::fs::read_to_string(path.join("size")).ok()?)
        })
        .max()
    })
}

/// A sysfs cache size (`32768K`, `1M`, `512`) in bytes.
fn parse_cache_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1 << 10),
        b'M' => (&text[..text.len() - 1], 1 << 20),
        b'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<usize>().ok().map(|n| n * unit)
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
                assert_eq!(f.as_ptr() as usize % PAGE_SIZE, offset);
            }
            assert_eq!(msg.pages(), 8 * 3 - usize::from(offset == 0) * 8);
        }
    }

    #[test]
    fn packed_fields_sit_back_to_back_16_byte_aligned_in_one_region() {
        for (size, fields) in [(1, 8), (1000, 8), (1024, 8), (4096, 8), (65536, 8), (7, 3)] {
            let layout = Layout::new(size, fields);
            let msg = Message::new(&layout, Align::Packed, 3);
            let region = msg.region().expect("a packed message is one region");
            let (lo, hi) = (
                region.as_ptr() as usize,
                region.as_ptr() as usize + region.len(),
            );
            let mut end = lo;
            for f in msg.fields() {
                let at = f.as_ptr() as usize;
                assert_eq!(at % PACKED_FIELD_ALIGN, 0, "{size}/{fields}");
                assert!(at >= end && at - end < PACKED_FIELD_ALIGN, "back to back");
                end = at + f.len();
            }
            assert!(end <= hi);
            assert_eq!(msg.to_vec(), pattern::expected_message(3, 0, size));
        }
        // A 1 KiB message of 8 fields: one or two pages packed, eight apart.
        let small = Layout::new(1024, 8);
        assert!(Message::new(&small, Align::Packed, 0).pages() <= 2);
        assert_eq!(Message::new(&small, Align::Offset(96), 0).pages(), 8);
        // 64 KiB: 16 or 17 pages packed, 24 apart at offset:96 (each 8 KiB field spans 3).
        let big = Layout::new(64 << 10, 8);
        assert!(Message::new(&big, Align::Packed, 0).pages() <= 17);
        assert_eq!(Message::new(&big, Align::Offset(96), 0).pages(), 24);
    }

    #[test]
    fn align_parses() {
        assert_eq!("packed".parse::<Align>().unwrap(), Align::Packed);
        assert_eq!(Align::default(), Align::Packed);
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
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_cache_size("1M"), Some(1 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("K"), None);
        assert_eq!(parse_cache_size(""), None);
    }

    #[test]
    fn footprints_count_the_page_slack_of_fields_apart() {
        let layout = Layout::new(1024, 8);
        assert!(message_footprint(&layout, Align::Packed) < 1024 + 256);
        assert_eq!(
            message_footprint(&layout, Align::Page),
            1024 + 8 * PAGE_SIZE
        );
        assert_eq!(
            message_footprint(&layout, Align::Offset(96)),
            1024 + 8 * (PAGE_SIZE + 96)
        );
    }
}
