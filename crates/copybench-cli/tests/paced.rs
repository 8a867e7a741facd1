//! `copybench run --rate`: the real binary over loopback, paced. Bad rates exit 2 before any
//! traffic; a paced run records its pacing and both sides' CPU utilisation on every point; a
//! sweep of rates keeps each rate its own findings group.

use copybench_core::findings::Figure;

use crate::common::{self, copybench};

#[test]
fn a_bad_rate_exits_2_and_says_what_to_give() {
    for (args, says) in [
        (&["--rate", "0"][..], "at least 1 bit"),
        (&["--rate", "-1g"][..], "at least 1 bit"),
        (&["--rate", "fast"][..], "not a rate"),
        (&["--rate", "5x"][..], "not a rate"),
        (&["--rates", "1g,"][..], "not a rate"),
        (&["--rate", "1g", "--mode", "rr"][..], "--rate"),
        (&["--rate", "1g", "--refine"][..], "--refine"),
    ] {
        let out = copybench()
            .args(["run", "--topology", "loopback", "--sizes", "4k"])
            .args(common::QUICK)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_paced_run_records_pacing_and_cpu_utilisation_per_point() {
    let r = common::run_value(&[
        "--topology",
        "loopback",
        "--strategy",
        "twocopy,scattergather",
        "--sizes",
        "16k",
        "--rates",
        "100m,200m",
    ]);
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert_eq!(
        r["config"]["rates"],
        serde_json::json!([100_000_000, 200_000_000])
    );
    for p in points {
        let pacing = &p["pacing"];
        assert_eq!(pacing["method"], "user-sleep", "{p}");
        let target = pacing["target_bps"].as_f64().unwrap();
        let reached = pacing["reached_bps"].as_f64().unwrap();
        assert!(
            (0.8..=1.05).contains(&(reached / target)),
            "reached {reached} of {target}"
        );
        assert!(pacing["rate_reached"].is_boolean());
        // Thread CPU over the interval, percent of one CPU: paced at 100-200 Mbit/s, far
        // from a whole CPU, and not 0 either (the sender did send).
        for side in ["sender", "receiver"] {
            let pct = p[side]["cpu_utilisation_pct"].as_f64();
            let pct = pct.unwrap_or_else(|| panic!("{side} utilisation missing: {p}"));
            assert!(pct > 0.0 && pct < 90.0, "{side} {pct}%");
        }
    }
    let results: copybench_core::result::RunResults = serde_json::from_value(r).unwrap();
    let groups = &results.findings.unwrap().groups;
    let rates: Vec<Option<u64>> = groups.iter().map(|g| g.rate_bps).collect();
    assert_eq!(
        rates,
        [Some(100_000_000), Some(200_000_000)],
        "one group per rate"
    );
    assert!(groups
        .iter()
        .all(|g| g.metric == Figure::SenderCpuNsPerByte && g.sizes[0].strategies.len() == 2));
}

#[test]
fn an_unpaced_run_writes_utilisation_but_no_pacing() {
    let r = common::run_value(&["--topology", "loopback", "-s", "sg", "--sizes", "4k"]);
    for p in r["points"].as_array().unwrap() {
        assert!(p.get("pacing").is_none(), "{p}");
        assert!(p["sender"]["cpu_utilisation_pct"].is_number(), "{p}");
    }
    assert!(r["config"].get("rates").is_none());
}
