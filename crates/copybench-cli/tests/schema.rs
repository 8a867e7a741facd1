//! The results contract holds: every key (with its JSON type) that schema 1 wrote is still
//! written, so scripts and reports built on older files keep working.
//!
//! `data/schema1-keys.txt` was generated from the JSON of the pre-refactoring binary (commit
//! f5603ae) for exactly the two runs below: one `path type` line per key, arrays as `[]`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::{self, is_root, skip};

/// Every (path, type) in `v`, arrays folded into `[]`.
fn keys(v: &Value, path: String, out: &mut BTreeSet<(String, &'static str)>) {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.insert((path.clone(), kind));
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                keys(x, format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for x in items {
                keys(x, format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Whether a key depends on the machine rather than on copybench: a counter is `value` with a
/// PMU and `unsupported` without one.
fn machine_dependent(path: &str) -> bool {
    path.ends_with(".value") || path.ends_with(".unsupported")
}

#[test]
fn every_schema_1_key_is_still_written_with_its_type() {
    if !is_root() {
        skip("the rr half of the fixture ran in namespaces (needs root)");
        return;
    }
    let runs = [
        common::run_value(&["--topology", "loopback", "--sizes", "4k"]),
        common::run_value(&[
            "--topology",
            "netns",
            "--mode",
            "rr",
            "--sizes",
            "1k",
            "--threads",
            "2",
            "--pin",
        ]),
    ];
    let mut now = BTreeSet::new();
    for r in &runs {
        keys(r, "$".into(), &mut now);
    }
    // A figure may be null on one machine and a number on another; the path must exist.
    let mut types: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (path, kind) in &now {
        types.entry(path.as_str()).or_default().insert(kind);
    }
    let fixture = include_str!("data/schema1-keys.txt");
    let mut missing = Vec::new();
    for line in fixture.lines() {
        let (path, kind) = line.rsplit_once(' ').unwrap();
        if machine_dependent(path) {
            continue;
        }
        let ok = match types.get(path) {
            None => false,
            Some(seen) => kind == "null" || seen.contains(kind) || seen.contains("null"),
        };
        if !ok {
            missing.push(format!("{path} ({kind}), now: {:?}", types.get(path)));
        }
    }
    assert!(
        missing.is_empty(),
        "keys of schema 1 lost or retyped:\n{}",
        missing.join("\n")
    );
    // Added since, and written by every run (docs/results.md, docs/findings.md).
    for (path, kind) in [
        ("$.points[].refined", "bool"),
        ("$.findings.rules.multiplicity.method", "string"),
        ("$.findings.rules.multiplicity.level", "number"),
        ("$.findings.rules.multiplicity.family", "string"),
    ] {
        assert!(
            types.get(path).is_some_and(|t| t.contains(kind)),
            "{path} ({kind}) not written: {:?}",
            types.get(path)
        );
    }
}

/// Keys added within schema 1 since the fixture, each with the type it is written with: a
/// reader may rely on them in files of this version.
#[test]
fn keys_added_since_the_fixture_are_written_with_their_types() {
    let run = common::run_value(&["--topology", "loopback", "-s", "sg,zc", "--sizes", "4k"]);
    let mut now = BTreeSet::new();
    keys(&run, "$".into(), &mut now);
    for (path, kind) in [
        ("$.points[].data", "string"),
        ("$.points[].buffers_touched", "number"),
        ("$.points[].working_set_bytes", "number"),
        ("$.points[].longest_send_s", "number"),
        ("$.points[].sender.cpu_utilisation_pct", "number"),
        ("$.points[].receiver.cpu_utilisation_pct", "number"),
    ] {
        assert!(
            now.contains(&(path.to_string(), kind)),
            "{path} is not written as a {kind}"
        );
    }
    for p in run["points"].as_array().unwrap() {
        assert_eq!(p["data"], "hot", "hot is the default");
    }
    // A number where sysfs lists the caches, null where it does not: written either way.
    assert!(run["host"].get("llc_bytes").is_some(), "host.llc_bytes");
}

#[test]
fn paced_points_write_their_pacing_and_the_run_its_rates() {
    let r = common::run_value(&[
        "--topology",
        "loopback",
        "-s",
        "sg",
        "--sizes",
        "16k",
        "--rate",
        "100m",
    ]);
    let mut now = BTreeSet::new();
    keys(&r, "$".into(), &mut now);
    for (path, kind) in [
        ("$.config.rates[]", "number"),
        ("$.points[].pacing", "object"),
        ("$.points[].pacing.method", "string"),
        ("$.points[].pacing.target_bps", "number"),
        ("$.points[].pacing.reached_bps", "number"),
        ("$.points[].pacing.rate_reached", "bool"),
        ("$.points[].pacing.slept_s", "number"),
        ("$.findings.groups[].rate_bps", "number"),
    ] {
        assert!(
            now.contains(&(path.to_string(), kind)),
            "{path} ({kind}) is not written"
        );
    }
}

#[test]
fn io_uring_points_write_their_depth_and_ring_setup() {
    // The keys docs/results.md names for the io_uring strategies, with their types; the other
    // strategies write them as null.
    let r = common::run_value(&[
        "--topology",
        "loopback",
        "--sizes",
        "4k",
        "--strategy",
        "uringsend,uringzc,scattergather",
        "--uring-depth",
        "4",
    ]);
    let mut now = BTreeSet::new();
    keys(&r, "$".into(), &mut now);
    for (path, kind) in [
        ("$.points[].uring_depth", "number"),
        ("$.points[].uring_depth", "null"),
        ("$.points[].uring", "object"),
        ("$.points[].uring", "null"),
        ("$.points[].uring.depth", "number"),
        ("$.points[].uring.linked", "bool"),
        ("$.points[].uring.setup_flags", "array"),
        ("$.points[].uring.setup_flags[]", "string"),
        ("$.points[].uring.registered_file", "bool"),
        ("$.points[].uring.registered_ring_fd", "bool"),
        ("$.points[].uring.broken_links", "number"),
    ] {
        assert!(
            now.contains(&(path.to_string(), kind)),
            "{path} ({kind}) is not written"
        );
    }
}

/// The receive strategies' keys (docs/results.md), with their types: `receive` and the receive
/// setup on every TCP point, the mapping figures on zerocopy points only, per-CPU time with
/// each CPU's role.
#[test]
fn receive_points_write_their_strategy_mapping_and_per_cpu_time() {
    let r = common::run_value(&[
        "--topology",
        "loopback",
        "--sizes",
        "64k",
        "--strategy",
        "zc",
        "--receive",
        "read,zerocopy",
        "--placement",
        "apart",
        "--duration",
        "150ms",
    ]);
    let mut now = BTreeSet::new();
    keys(&r, "$".into(), &mut now);
    for (path, kind) in [
        ("$.config.receives[]", "string"),
        ("$.points[].receive", "string"),
        ("$.points[].receive_setup", "object"),
        ("$.points[].receive_setup.mss", "number"),
        ("$.points[].receive_setup.tcp_maxseg", "number"),
        ("$.points[].receive_setup.rcvlowat", "number"),
        ("$.points[].receive_setup.rcvlowat", "null"),
        ("$.points[].receive_setup.map_bytes", "number"),
        ("$.points[].receiver.mapped_bytes", "number"),
        ("$.points[].receiver.mapped_ratio", "number"),
        ("$.points[].system_cpu.per_cpu", "array"),
        ("$.points[].system_cpu.per_cpu[].cpu", "number"),
        ("$.points[].system_cpu.per_cpu[].user_ns", "number"),
        ("$.points[].system_cpu.per_cpu[].system_ns", "number"),
        ("$.points[].system_cpu.per_cpu[].softirq_ns", "number"),
        ("$.points[].system_cpu.per_cpu[].irq_ns", "number"),
        ("$.points[].system_cpu.per_cpu[].idle_ns", "number"),
        ("$.points[].system_cpu.per_cpu[].steal_ns", "number"),
        ("$.points[].system_cpu.per_cpu[].role", "string"),
    ] {
        assert!(
            now.contains(&(path.to_string(), kind)),
            "{path} ({kind}) is not written"
        );
    }
    for p in r["points"].as_array().unwrap() {
        let mapped = p["receiver"].get("mapped_bytes");
        match p["receive"].as_str().unwrap() {
            "zerocopy" => assert!(mapped.is_some_and(|m| m.is_number()), "{p}"),
            "read" => assert!(mapped.is_none(), "absent for read, not 0: {p}"),
            other => panic!("receive {other}"),
        }
    }
}
