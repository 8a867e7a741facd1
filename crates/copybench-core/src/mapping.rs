//! Memory mappings a message pool can live in instead of the heap: a memory file (`memfd`,
//! for `sendfile`, which sends file pages) and anonymous 2 MiB huge pages (`--hugepages`).
//!
//! A [`Mapping`] is carved into disjoint [`MappedBuf`]s by a bump allocator that never hands
//! out a byte twice, so each buffer may give out `&mut [u8]` to its own bytes while other
//! buffers of the same mapping are written elsewhere. The `unsafe` here is the `mmap`/`munmap`
//! pair, one `madvise`, and the two slices made from the mapping's pointer.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use rustix::mm::{MapFlags, ProtFlags};

use crate::message::PAGE_SIZE;

/// A huge page as the pool asks for it: 2 MiB.
pub const HUGE_PAGE: usize = 2 << 20;

/// Why a mapping could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {reason}")]
pub struct MapError {
    /// The call that failed (`memfd_create`, `mmap(MAP_HUGETLB)`, ...).
    pub call: &'static str,
    /// The kernel's answer, and what would make it work.
    pub reason: String,
}

impl MapError {
    fn new(call: &'static str, e: impl fmt::Display) -> MapError {
        MapError {
            call,
            reason: e.to_string(),
        }
    }
}

/// How the kernel backed a huge-page mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugeKind {
    /// `MAP_HUGETLB`: pages from the hugetlb pool (`vm.nr_hugepages`).
    HugeTlb,
    /// Transparent huge pages asked for with `madvise(MADV_HUGEPAGE)`; whether the kernel gave
    /// them is read from `/proc/self/smaps` (`AnonHugePages`).
    Thp,
}

/// One `mmap`ed region, unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// The memory file behind it (`memfd`), if any.
    file: Option<OwnedFd>,
    huge: Option<HugeKind>,
    /// Next free byte (the bump allocator).
    next: Mutex<usize>,
}

// SAFETY: the mapping is plain memory owned by this value until drop; the bytes are reached
// only through `MappedBuf`s, whose ranges never overlap (the bump allocator under the mutex),
// so sharing the pointer between threads creates no aliasing `&mut`.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`: `&Mapping` only allows carving new, disjoint ranges (under a mutex).
unsafe impl Sync for Mapping {}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.len)
            .field("memfd", &self.file.is_some())
            .field("huge", &self.huge)
            .finish()
    }
}

impl Mapping {
    /// A memory file of `len` bytes (rounded up to pages), mapped shared and writable: what is
    /// written through the mapping is what `sendfile` of the file sends.
    pub fn memfd(len: usize) -> Result<Arc<Mapping>, MapError> {
        let len = len.max(1).next_multiple_of(PAGE_SIZE);
        let fd = rustix::fs::memfd_create("copybench-pool", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| MapError::new("memfd_create", e))?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(|e| MapError::new("ftruncate", e))?;
        // SAFETY: a fresh shared mapping of our own file at an address the kernel picks; it
        // aliases nothing of ours and is unmapped only in `drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(|e| MapError::new("mmap(memfd)", e))?;
        Ok(Arc::new(Mapping {
            ptr: ptr.cast(),
            len,
            file: Some(fd),
            huge: None,
            next: Mutex::new(0),
        }))
    }

    /// Anonymous memory of `len` bytes (rounded up to 2 MiB) from huge pages: `MAP_HUGETLB`,
    /// else an aligned anonymous mapping with `madvise(MADV_HUGEPAGE)`. The error says why
    /// each failed.
    pub fn huge(len: usize) -> Result<Arc<Mapping>, MapError> {
        let len = len.max(1).next_multiple_of(HUGE_PAGE);
        let prot = ProtFlags::READ | ProtFlags::WRITE;
        // SAFETY: a fresh private anonymous mapping; it aliases nothing and is unmapped only
        // in `drop`.
        let hugetlb = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                prot,
                MapFlags::PRIVATE | MapFlags::HUGETLB | MapFlags::HUGE_2MB | MapFlags::POPULATE,
            )
        };
        let hugetlb_err = match hugetlb {
            Ok(ptr) => return Ok(Mapping::anonymous(ptr.cast(), len, HugeKind::HugeTlb)),
            Err(e) => e,
        };
        // THP: map 2 MiB more and use the 2 MiB-aligned part, so that whole huge pages fit.
        let over = len + HUGE_PAGE;
        // SAFETY: as above, a fresh private anonymous mapping.
        let raw = unsafe {
            rustix::mm::mmap_anonymous(std::ptr::null_mut(), over, prot, MapFlags::PRIVATE)
        }
        .map_err(|e| MapError::new("mmap", e))?
        .cast::<u8>();
        let lead = raw.align_offset(HUGE_PAGE);
        // SAFETY: `lead < HUGE_PAGE`, so `raw + lead .. + len` lies inside the `over` bytes
        // just mapped; the unused head and tail are unmapped and never touched again.
        let ptr = unsafe {
            let ptr = raw.add(lead);
            if lead > 0 {
                let _ = rustix::mm::munmap(raw.cast(), lead);
            }
            let tail = over - lead - len;
            if tail > 0 {
                let _ = rustix::mm::munmap(ptr.add(len).cast(), tail);
            }
            ptr
        };
        let mapping = Mapping::anonymous(ptr, len, HugeKind::Thp);
        // SAFETY: the range is exactly our mapping; advice changes no byte.
        let advised =
            unsafe { rustix::mm::madvise(ptr.cast(), len, rustix::mm::Advice::LinuxHugepage) };
        if let Err(e) = advised {
            return Err(MapError {
                call: "mmap(MAP_HUGETLB) and madvise(MADV_HUGEPAGE)",
                reason: format!(
                    "MAP_HUGETLB: {hugetlb_err} (reserve pages with vm.nr_hugepages); \
                     MADV_HUGEPAGE: {e} (transparent huge pages disabled or absent)"
                ),
            });
        }
        Ok(mapping)
    }

    fn anonymous(ptr: *mut u8, len: usize, huge: HugeKind) -> Arc<Mapping> {
        Arc::new(Mapping {
            ptr,
            len,
            file: None,
            huge: Some(huge),
            next: Mutex::new(0),
        })
    }

    /// The memory file behind the mapping, for `sendfile`.
    pub fn file(&self) -> Option<BorrowedFd<'_>> {
        self.file.as_ref().map(AsFd::as_fd)
    }

    /// How huge pages were asked for (`None`: a memory file).
    pub fn huge_kind(&self) -> Option<HugeKind> {
        self.huge
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a mapping of no bytes (never made).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapping's start address (for finding it in `/proc/self/smaps`).
    pub fn address(&self) -> usize {
        self.ptr as usize
    }

    /// `len` bytes not handed out before, starting at a multiple of `align` plus `offset`;
    /// `None` when the mapping is full.
    pub fn carve(self: &Arc<Self>, len: usize, align: usize, offset: usize) -> Option<MappedBuf> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let start = next.next_multiple_of(align.max(1)) + offset;
        let end = start.checked_add(len)?;
        if end > self.len {
            return None;
        }
        *next = end;
        Some(MappedBuf {
            map: Arc::clone(self),
            start,
            len,
        })
    }

    /// `AnonHugePages` of this mapping in `/proc/self/smaps`, in bytes (what the kernel
    /// really backed with transparent huge pages); `None` where the file or the mapping's
    /// entry cannot be read. (hugetlb pages show as `Private_Hugetlb` instead.)
    pub fn smaps_huge_bytes(&self) -> Option<(u64, u64)> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let start = format!("{:x}-", self.address());
        let entry = smaps
            .split_inclusive('\n')
            .skip_while(|l| !l.starts_with(&start))
            .skip(1)
            // Until the next mapping's header: its first word is an address range, not a key.
            .take_while(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.ends_with(':'))
            })
            .collect::<String>();
        let kib = |key: &str| -> Option<u64> {
            entry
                .lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
                .map(|k| k * 1024)
        };
        Some((kib("AnonHugePages:")?, kib("Private_Hugetlb:").unwrap_or(0)))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr+len` is the region mapped in the constructor, and no `MappedBuf`
        // outlives the mapping (each holds an `Arc` to it).
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// A range of a [`Mapping`] that no other `MappedBuf` overlaps.
pub struct MappedBuf {
    map: Arc<Mapping>,
    start: usize,
    len: usize,
}

impl MappedBuf {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `start..start+len` lies inside the live mapping (checked in `carve`), no
        // other buffer covers it, and a `&mut` to it exists only through `&mut self`.
        unsafe { std::slice::from_raw_parts(self.map.ptr.add(self.start), self.len) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`; `&mut self` makes this the only reference to the range.
        unsafe { std::slice::from_raw_parts_mut(self.map.ptr.add(self.start), self.len) }
    }

    /// Offset of the first byte in the mapping (in the memory file, for `sendfile`).
    pub fn offset(&self) -> usize {
        self.start
    }

    /// The mapping it was carved from.
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }
}

impl fmt::Debug for MappedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MappedBuf {{ offset: {}, len: {} }}",
            self.start, self.len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carved_buffers_never_overlap_and_read_back_through_the_file() {
        let map = Mapping::memfd(3 * PAGE_SIZE).unwrap();
        let mut a = map.carve(100, 1, 0).unwrap();
        let mut b = map.carve(5000, 16, 0).unwrap();
        assert!(b.offset() >= a.offset() + 100 && b.offset() % 16 == 0);
        a.as_mut_slice().fill(1);
        b.as_mut_slice().fill(2);
        assert!(a.as_slice().iter().all(|&x| x == 1));
        assert!(map.carve(PAGE_SIZE * 3, 1, 0).is_none(), "full");
        // What the mapping holds is what the file reads.
        let mut got = vec![0u8; 100];
        let n = rustix::io::pread(map.file().unwrap(), &mut got, a.offset() as u64).unwrap();
        assert_eq!(n, 100);
        assert!(got.iter().all(|&x| x == 1));
    }
}
