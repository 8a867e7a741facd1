//! Issue 25's paths through the binary: `sendfile` and `splice` verified over netns, UDP GSO
//! verified at a receiver over netns and uncopied on the sink for zero-copy, `--hugepages`
//! recorded with what the kernel gave, the bad combinations refused with exit 2, and `doctor`
//! listing each path.

use crate::common::{self, copybench, is_root, skip};

/// Enough buffers at 64 KiB to hold what a receiver may keep unread (the release rule).
const BY_REFERENCE_POOL: &str = "1200";

fn refused(args: &[&str]) -> String {
    let out = copybench()
        .arg("run")
        .args([
            "--duration",
            "200ms",
            "--warmup",
            "0s",
            "-r",
            "1",
            "--no-progress",
        ])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    err
}

#[test]
fn sendfile_and_splice_verify_over_netns() {
    if !is_root() {
        skip("netns needs root (CI runs as root)");
        return;
    }
    let r = common::run_json(&[
        "--topology",
        "netns",
        "-s",
        "sendfile,splice",
        "--sizes",
        "64k",
        "--threads",
        "1,2",
        "--pool",
        BY_REFERENCE_POOL,
        "--splice-gift",
    ]);
    assert_eq!(r.points.len(), 4);
    for p in &r.points {
        let what = format!("{} x{}", p.strategy, p.threads);
        assert!(p.verified, "{what}: {:?}", p.error);
        assert!(p.messages > 0, "{what}");
        assert!(p.receive_margin_bytes.is_some(), "{what}");
        let gift = (p.strategy == copybench_core::StrategyKind::Splice).then_some(true);
        assert_eq!(p.splice_gift, gift, "{what}");
    }
}

#[test]
fn udp_gso_datagrams_verify_over_netns_for_every_udp_strategy() {
    if !is_root() {
        skip("netns needs root (CI runs as root)");
        return;
    }
    let r = common::run_json(&[
        "--topology",
        "netns",
        "--protocol",
        "udp",
        "-s",
        "sg,zc,uringzc",
        "--sizes",
        "16k",
        "--udp-gso",
        "1400",
    ]);
    assert_eq!(r.points.len(), 3);
    for p in &r.points {
        assert!(p.verified, "{}: {:?}", p.strategy, p.error);
        assert_eq!(p.udp_gso, Some(1400));
        let udp = p.udp.as_ref().unwrap();
        let received = udp.received.unwrap();
        assert!(received > 0 && received <= udp.sent, "{udp:?}");
        // Datagrams, not messages: 16 KiB in 1400-byte segments is 12 datagrams.
        assert_eq!(udp.sent % 12, 0, "{udp:?}");
    }
}

#[test]
fn zero_copy_gso_sends_on_the_sink_come_back_uncopied() {
    if !is_root() {
        skip("the sink needs root (CI runs as root)");
        return;
    }
    let r = common::run_json(&[
        "--topology",
        "sink",
        "--protocol",
        "udp",
        "-s",
        "zc,uringzc",
        "--sizes",
        "60k",
        "--udp-gso",
        "8000",
    ]);
    for p in &r.points {
        let zc = p.zerocopy.as_ref().expect("zero-copy stats");
        assert!(zc.completions > 0, "{}: {zc:?}", p.strategy);
        assert_eq!(
            zc.copied_ratio,
            Some(0.0),
            "{}: GSO sends of 8 datagrams each were copied: {zc:?}",
            p.strategy
        );
        assert_eq!(p.udp_gso, Some(8000));
    }
}

#[test]
fn hugepages_are_recorded_with_what_the_kernel_gave() {
    let r = common::run_json(&[
        "--topology",
        "loopback",
        "-s",
        "sg,zc,sendfile",
        "--sizes",
        "64k",
        "--pool",
        BY_REFERENCE_POOL,
        "--hugepages",
    ]);
    for p in &r.points {
        assert!(p.verified, "{}: {:?}", p.strategy, p.error);
        if p.strategy == copybench_core::StrategyKind::Sendfile {
            assert!(p.hugepages.is_none(), "a file pool has no huge pages");
            continue;
        }
        let h = p.hugepages.as_ref().expect("recorded with --hugepages");
        assert!(h.backing == "hugetlb" || h.backing == "thp", "{h:?}");
        assert!(h.mapped_bytes >= 1200 * 65536, "{h:?}");
        let huge = h.huge_bytes.expect("smaps is readable here");
        assert!(huge <= h.mapped_bytes, "{h:?}");
        eprintln!("{}: {h:?}", p.strategy);
    }
}

#[test]
fn bad_combinations_exit_2_with_what_to_do() {
    let err = refused(&[
        "--topology",
        "loopback",
        "--protocol",
        "udp",
        "-s",
        "sendfile",
    ]);
    assert!(
        err.contains("TCP only") && err.contains("--protocol tcp"),
        "{err}"
    );
    let err = refused(&[
        "--topology",
        "loopback",
        "-s",
        "splice",
        "--protocol",
        "udp",
    ]);
    assert!(err.contains("TCP only"), "{err}");
    let err = refused(&["--topology", "loopback", "--udp-gso", "1000", "-s", "sg"]);
    assert!(err.contains("--protocol udp"), "{err}");
    let err = refused(&[
        "--topology",
        "loopback",
        "--protocol",
        "udp",
        "--udp-gso",
        "8k",
        "--sizes",
        "4k",
    ]);
    assert!(err.contains("--udp-gso"), "{err}");
    if is_root() {
        let err = refused(&[
            "--topology",
            "netns",
            "--protocol",
            "udp",
            "--udp-gso",
            "1473",
            "--sizes",
            "4k",
        ]);
        assert!(err.contains("MTU (1500)") && err.contains("1472"), "{err}");
    }
    let err = refused(&["--topology", "loopback", "--splice-gift", "-s", "sg"]);
    assert!(err.contains("splice"), "{err}");
    let err = refused(&["--topology", "loopback", "-s", "sendfile", "--pool", "16"]);
    assert!(err.contains("larger --pool"), "{err}");
    let err = refused(&["--topology", "loopback", "-s", "sendfile", "--hugepages"]);
    assert!(err.contains("memory file"), "{err}");
}

#[test]
fn doctor_lists_the_new_paths() {
    let out = copybench().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line_of = |what: &str| {
        text.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("doctor does not list {what}:\n{text}"))
            .to_string()
    };
    for what in [
        "sendfile (memfd pool)",
        "vmsplice + splice",
        "UDP GSO (UDP_SEGMENT)",
    ] {
        let line = line_of(what);
        assert!(line.starts_with("ok"), "{line}");
    }
    // Huge pages depend on the machine's settings: listed either way, with what backed a
    // touched mapping, or as a gap with the reason.
    let line = line_of("huge pages (--hugepages)");
    assert!(
        (line.starts_with("ok")
            && (line.contains("MAP_HUGETLB") || line.contains("KiB of a 4 MiB")))
            || line.starts_with("GAP"),
        "{line}"
    );
}
