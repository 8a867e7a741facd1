//! One CSV row per point. Header and rows come from one column table, so they cannot drift
//! apart; unmeasured values are empty cells, never 0.

// Tables of (column name, accessor) pairs are what this module is made of.
#![allow(clippy::type_complexity)]

use std::fmt::Write as _;

use anyhow::Result;
use copybench_core::result::{
    Counters, LatencySummary, Metric, Point, RunResults, SideMetrics, SystemCpu, ZeroCopyStats,
};

use super::Exporter;

/// Writes the points, one row each, with the columns a spreadsheet user expects first.
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn render(&self, results: &RunResults) -> Result<String> {
        Ok(csv(&results.points))
    }
}

/// How a point fills a cell (`None`: an empty cell).
type Cell = Box<dyn Fn(&Point) -> Option<String>>;
/// A named figure read from a part of a point.
type Named<T> = (&'static str, T);

/// A column: its header and how a point fills it.
struct Column {
    name: String,
    cell: Cell,
}

fn column(name: &str, cell: impl Fn(&Point) -> Option<String> + 'static) -> Column {
    Column {
        name: name.to_string(),
        cell: Box::new(cell),
    }
}

fn text(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

/// The counters written per side, in column order.
const COUNTERS: [Named<fn(&Counters) -> &Metric>; 7] = [
    ("cycles", |c| &c.cycles),
    ("instructions", |c| &c.instructions),
    ("llc_misses", |c| &c.llc_misses),
    ("context_switches", |c| &c.context_switches),
    ("cpu_migrations", |c| &c.cpu_migrations),
    ("page_faults", |c| &c.page_faults),
    ("task_clock_ns", |c| &c.task_clock_ns),
];

/// Every column, in order: the point, latency, zero-copy, per-byte figures, counters per
/// side, system CPU, layout.
fn columns() -> Vec<Column> {
    let mut cols = point_columns();
    cols.extend(latency_columns());
    cols.extend(zerocopy_columns());
    cols.extend(counter_columns());
    cols.extend([
        column("fields", |p| text(p.fields)),
        column("pool", |p| text(p.pool)),
        column("error", |p| p.error.clone()),
        column("placement", |p| p.placement.map(|x| x.to_string())),
        column("read_size", |p| p.read_size.map(|x| x.to_string())),
        column("data", |p| p.data.map(|x| x.to_string())),
        column("buffers_touched", |p| {
            p.buffers_touched.map(|x| x.to_string())
        }),
        column("working_set_bytes", |p| {
            p.working_set_bytes.map(|x| x.to_string())
        }),
        column("receive", |p| text(p.receive)),
        column("receiver_mapped_ratio", |p| {
            p.receiver.mapped_ratio.map(|x| x.to_string())
        }),
        // Paced points (`--rate`): empty cells for unpaced ones.
        column("rate_target_bps", |p| {
            p.target_rate_bps().map(|x| x.to_string())
        }),
        column("rate_reached_bps", |p| {
            p.pacing.as_ref()?.reached_bps.map(|x| x.to_string())
        }),
        column("rate_reached", |p| {
            p.pacing.as_ref().map(|x| x.rate_reached.to_string())
        }),
        column("sender_cpu_utilisation_pct", |p| {
            p.sender.cpu_utilisation_pct.map(|x| x.to_string())
        }),
        column("receiver_cpu_utilisation_pct", |p| {
            p.receiver.cpu_utilisation_pct.map(|x| x.to_string())
        }),
    ]);
    cols.extend(send_path_columns());
    cols
}

/// Issue 25's send-path options, each empty where it does not apply: `splice_gift` for
/// `splice` points only, `udp_gso` for UDP points with `--udp-gso`, and what `--hugepages`
/// got (its `huge_bytes` empty where `/proc/self/smaps` could not say).
fn send_path_columns() -> Vec<Column> {
    vec![
        column("splice_gift", |p| p.splice_gift.map(|x| x.to_string())),
        column("udp_gso", |p| p.udp_gso.map(|x| x.to_string())),
        column("hugepages_backing", |p| {
            p.hugepages.as_ref().map(|h| h.backing.clone())
        }),
        column("hugepages_mapped_bytes", |p| {
            p.hugepages.as_ref().map(|h| h.mapped_bytes.to_string())
        }),
        column("hugepages_huge_bytes", |p| {
            p.hugepages
                .as_ref()
                .and_then(|h| h.huge_bytes)
                .map(|x| x.to_string())
        }),
    ]
}

fn point_columns() -> Vec<Column> {
    vec![
        column("strategy", |p| text(p.strategy)),
        column("msg_size", |p| text(p.msg_size)),
        column("threads", |p| text(p.threads)),
        column("repetition", |p| text(p.repetition)),
        column("mode", |p| text(p.mode)),
        column("throughput_gbps", |p| text(p.throughput_gbps)),
        column("bytes", |p| text(p.bytes)),
        column("messages", |p| text(p.messages)),
        column("duration_s", |p| text(p.duration_s)),
        column("send_calls", |p| text(p.send_calls)),
        column("verified", |p| text(p.verified)),
        column("verification", |p| text(p.verification)),
        column("receiver_throughput_gbps", |p| {
            p.receiver.throughput_gbps.map(|v| v.to_string())
        }),
    ]
}

fn latency_columns() -> Vec<Column> {
    let mut cols = vec![column("latency_what", |p| {
        p.latency_us.as_ref().map(|l| l.what.name().to_string())
    })];
    let percentiles: [Named<fn(&LatencySummary) -> f64>; 6] = [
        ("latency_p50_us", |l| l.p50),
        ("latency_p90_us", |l| l.p90),
        ("latency_p99_us", |l| l.p99),
        ("latency_p999_us", |l| l.p999),
        ("latency_max_us", |l| l.max),
        ("latency_mean_us", |l| l.mean),
    ];
    for (name, pick) in percentiles {
        cols.push(column(name, move |p| {
            p.latency_us.as_ref().map(|l| pick(l).to_string())
        }));
    }
    cols.push(column("transactions_per_s", |p| {
        p.transactions_per_s.map(|v| v.to_string())
    }));
    cols
}

fn zerocopy_columns() -> Vec<Column> {
    let counts: [Named<fn(&ZeroCopyStats) -> u64>; 3] = [
        ("zc_sends", |z| z.sends),
        ("zc_completions", |z| z.completions),
        ("zc_copied", |z| z.copied),
    ];
    let mut cols: Vec<Column> = counts
        .into_iter()
        .map(|(name, pick)| {
            column(name, move |p| {
                p.zerocopy.as_ref().map(|z| pick(z).to_string())
            })
        })
        .collect();
    cols.extend([
        column("zc_copied_ratio", |p| {
            p.zerocopy
                .as_ref()
                .and_then(|z| z.copied_ratio)
                .map(|r| r.to_string())
        }),
        column("zc_enobufs", |p| {
            p.zerocopy.as_ref().map(|z| z.enobufs.to_string())
        }),
    ]);
    let per_byte: [Named<fn(&Point) -> Option<f64>>; 5] = [
        ("sender_cpu_ns_per_byte", |p| p.sender.cpu_ns_per_byte),
        ("receiver_cpu_ns_per_byte", |p| p.receiver.cpu_ns_per_byte),
        ("cycles_per_byte", |p| p.cycles_per_byte),
        ("llc_misses_per_kib", |p| p.llc_misses_per_kib),
        ("service_demand_ns_per_byte", |p| {
            p.service_demand_ns_per_byte
        }),
    ];
    for (name, pick) in per_byte {
        cols.push(column(name, move |p| pick(p).map(|v| v.to_string())));
    }
    cols
}

fn counter_columns() -> Vec<Column> {
    let mut cols = Vec::new();
    let sides: [Named<fn(&Point) -> &SideMetrics>; 2] =
        [("sender", |p| &p.sender), ("receiver", |p| &p.receiver)];
    for (side, of) in sides {
        for (name, pick) in COUNTERS {
            cols.push(column(&format!("{side}_{name}"), move |p| {
                of(p)
                    .counters
                    .as_ref()
                    .and_then(|c| pick(c).value())
                    .map(|v| v.to_string())
            }));
        }
    }
    let system: [Named<fn(&SystemCpu) -> u64>; 4] = [
        ("system_user_ns", |s| s.user_ns),
        ("system_system_ns", |s| s.system_ns),
        ("system_softirq_ns", |s| s.softirq_ns),
        ("system_irq_ns", |s| s.irq_ns),
    ];
    for (name, pick) in system {
        cols.push(column(name, move |p| {
            p.system_cpu.as_ref().map(|s| pick(s).to_string())
        }));
    }
    cols.push(column("system_steal_ns", |p| {
        p.system_cpu
            .as_ref()
            .and_then(|s| s.steal_ns)
            .map(|v| v.to_string())
    }));
    cols
}

/// The CSV text of `points`, header first.
pub fn csv(points: &[Point]) -> String {
    let cols = columns();
    let header: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    let mut out = header.join(",");
    out.push('\n');
    for p in points {
        let row: Vec<String> = cols
            .iter()
            .map(|c| csv_escape(&(c.cell)(p).unwrap_or_default()))
            .collect();
        let _ = writeln!(out, "{}", row.join(","));
    }
    out
}

fn csv_escape(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of schema 1, as spreadsheets and scripts have read it: columns may be added
    /// at the end of their group, never renamed, dropped or reordered.
    const SCHEMA_1_HEADER: &str = "strategy,msg_size,threads,repetition,mode,throughput_gbps,bytes,messages,duration_s,send_calls,verified,\
latency_what,latency_p50_us,latency_p90_us,latency_p99_us,latency_p999_us,latency_max_us,latency_mean_us,transactions_per_s,\
zc_sends,zc_completions,zc_copied,zc_copied_ratio,zc_enobufs,\
sender_cpu_ns_per_byte,receiver_cpu_ns_per_byte,cycles_per_byte,llc_misses_per_kib,\
sender_cycles,sender_instructions,sender_llc_misses,sender_context_switches,sender_cpu_migrations,sender_page_faults,sender_task_clock_ns,\
receiver_cycles,receiver_instructions,receiver_llc_misses,receiver_context_switches,receiver_cpu_migrations,receiver_page_faults,receiver_task_clock_ns,\
system_user_ns,system_system_ns,system_softirq_ns,system_irq_ns,fields,pool,error";

    fn point() -> Point {
        serde_json::from_str(include_str!("../../tests/data/point.json")).unwrap()
    }

    #[test]
    fn csv_escapes_commas_and_quotes() {
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_escape("plain"), "plain");
    }

    #[test]
    fn the_schema_1_columns_keep_their_names_and_order() {
        let text = csv(&[]);
        let header: Vec<&str> = text.trim_end().split(',').collect();
        let old: Vec<&str> = SCHEMA_1_HEADER.split(',').collect();
        let kept: Vec<&str> = header.iter().copied().filter(|c| old.contains(c)).collect();
        assert_eq!(kept, old);
    }

    #[test]
    fn header_and_row_have_the_same_width() {
        let text = csv(&[point()]);
        let mut lines = text.lines();
        let columns = lines.next().unwrap().split(',').count();
        let row = lines.next().unwrap();
        assert_eq!(row.split(',').count(), columns, "{row}");
    }

    #[test]
    fn unmeasured_counters_are_empty_cells_not_zero() {
        let mut p = point();
        p.cycles_per_byte = None;
        let text = csv(&[p]);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = header.iter().position(|h| *h == "cycles_per_byte").unwrap();
        assert_eq!(row[at], "");
    }

    /// The cells of `columns` in the one row of `p`'s CSV.
    fn cells(p: Point, columns: &[&str]) -> Vec<String> {
        let text = csv(&[p]);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        columns
            .iter()
            .map(|c| {
                let at = header
                    .iter()
                    .position(|h| h == c)
                    .unwrap_or_else(|| panic!("no {c}"));
                row[at].to_string()
            })
            .collect()
    }

    const SEND_PATH: [&str; 5] = [
        "splice_gift",
        "udp_gso",
        "hugepages_backing",
        "hugepages_mapped_bytes",
        "hugepages_huge_bytes",
    ];

    #[test]
    fn send_path_options_are_columns_empty_where_they_do_not_apply() {
        let mut p = point();
        (p.splice_gift, p.udp_gso, p.hugepages) = (None, None, None);
        assert_eq!(cells(p.clone(), &SEND_PATH), ["", "", "", "", ""]);

        p.splice_gift = Some(false);
        p.udp_gso = Some(1400);
        p.hugepages = Some(copybench_core::result::HugePages {
            backing: "thp".into(),
            mapped_bytes: 4 << 20,
            huge_bytes: Some(2 << 20),
        });
        assert_eq!(
            cells(p.clone(), &SEND_PATH),
            ["false", "1400", "thp", "4194304", "2097152"]
        );
        // Huge bytes smaps could not tell are empty, not 0.
        p.hugepages.as_mut().unwrap().huge_bytes = None;
        assert_eq!(cells(p, &SEND_PATH[4..]), [""]);
    }
}
