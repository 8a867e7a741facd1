//! `doctor`'s checks of issue 25's send paths: `sendfile` and `splice`, each run for 100 ms
//! over loopback with the receiver verifying every byte; UDP GSO the same way (UDP, 1400-byte
//! segments); and huge pages, mapped and touched as a `--hugepages` pool would be.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams, Protocol};
use copybench_core::mapping::{HugeKind, Mapping};
use copybench_core::result::Point;
use copybench_core::StrategyKind;

use super::{check, Check, Gap};

/// A verified 100 ms point of `p` over loopback, or why there is none (`what` names it).
fn short_point(mut p: PointParams, what: &'static str) -> Result<Point, Gap> {
    p.warmup = Duration::ZERO;
    p.duration = Duration::from_millis(100);
    let point = run_point(
        &p,
        &Endpoints::loopback(),
        &NoHooks,
        &AtomicBool::new(false),
    )?;
    if !point.verified {
        return Err(Gap::Unverified {
            what,
            error: point.error.unwrap_or_default(),
        });
    }
    Ok(point)
}

/// A short verified loopback point of a strategy: what it says, or why it failed.
fn probe(strategy: StrategyKind) -> Result<String, Gap> {
    let point = short_point(PointParams::new(strategy, 64 << 10, 1), "ran")?;
    Ok(format!(
        "TCP, verified over loopback ({:.1} Gbps in 100 ms at 64 KiB); a buffer is rewritten \
         only {} bytes past the peer's ACK; UDP refused",
        point.throughput_gbps,
        point
            .receive_margin_bytes
            .map_or_else(|| "an unrecorded number of".to_string(), |m| m.to_string())
    ))
}

/// UDP GSO: 16 KiB sends of 1400-byte datagrams (`UDP_SEGMENT`), 100 ms over loopback with
/// the receiver placing and verifying every datagram.
fn udp_gso() -> Result<String, Gap> {
    let mut p = PointParams::new(StrategyKind::ScatterGather, 16 << 10, 1);
    p.protocol = Protocol::Udp;
    p.udp_gso = Some(1400);
    let point = short_point(p, "UDP_SEGMENT accepted")?;
    Ok(format!(
        "UDP_SEGMENT accepted: 16 KiB sends of 1400-byte datagrams verified over loopback \
         ({:.1} Gbps in 100 ms); --udp-gso works with every UDP strategy",
        point.throughput_gbps
    ))
}

/// Huge pages: 4 MiB mapped as `--hugepages` maps a pool, touched, and what backed it.
fn hugepages() -> Result<String, Gap> {
    const LEN: usize = 4 << 20;
    let mapping = Mapping::huge(LEN)?;
    let mut buf = mapping.carve(LEN, 4096, 0).ok_or(Gap::MappingTooSmall)?;
    buf.as_mut_slice().fill(0x5a);
    match mapping.huge_kind() {
        Some(HugeKind::HugeTlb) => {
            Ok("MAP_HUGETLB (2 MiB pages from vm.nr_hugepages); --hugepages uses them".into())
        }
        Some(HugeKind::Thp) => match mapping.smaps_huge_bytes() {
            Some((0, _)) => Err(Gap::NoHugePages),
            Some((thp, _)) => Ok(format!(
                "transparent huge pages (madvise): {} KiB of a 4 MiB mapping in huge pages \
                 (no hugetlb pool: vm.nr_hugepages = 0); --hugepages records what each pool got",
                thp >> 10
            )),
            None => Err(Gap::SmapsSilent),
        },
        None => Err(Gap::NotHuge),
    }
}

/// One check per path.
pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            "sendfile (memfd pool)",
            probe(StrategyKind::Sendfile),
            "the sendfile strategy is reported unsupported with this reason, never faked",
        ),
        check(
            "vmsplice + splice",
            probe(StrategyKind::Splice),
            "the splice strategy is reported unsupported with this reason, never faked",
        ),
        check(
            "UDP GSO (UDP_SEGMENT)",
            udp_gso(),
            "--udp-gso points fail with this reason, never faked; UDP_SEGMENT needs Linux 4.18+",
        ),
        check(
            "huge pages (--hugepages)",
            hugepages(),
            "set vm.nr_hugepages, or transparent_hugepage to madvise or always",
        ),
    ]
}
