//! The page: host and configuration facts, warnings, and the charts, in one HTML file with
//! ECharts inlined.

use std::fmt::Write as _;

use copybench_core::result::RunResults;

use crate::aggregate::is_plotted;
use crate::charts::{format_bytes, strategy_label, ChartBody, ChartSection};
use crate::load::LabeledRun;

const TEMPLATE: &str = include_str!("template.html");

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Makes JavaScript safe to place inside a `<script>` element: nothing in it may close the
/// element or open a comment. `</` only ever occurs inside string literals here, where `<\/`
/// means the same.
fn script_safe(js: &str) -> String {
    js.replace("</", "<\\/").replace("<!--", "<\\!--")
}

/// Fills `{{NAME}}` placeholders in one pass (values are never scanned for placeholders).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                out.push_str(&rest[..start]);
                out.push_str(v);
            }
            None => out.push_str(&rest[..start + 4 + len]),
        }
        rest = &rest[start + 4 + len..];
    }
    out.push_str(rest);
    out
}

/// Lines describing every point that did not run cleanly.
pub fn warnings(runs: &[LabeledRun]) -> Vec<String> {
    let mut out = Vec::new();
    for run in runs {
        let r = &run.results;
        let who = if runs.len() > 1 {
            format!("{}: ", run.label)
        } else {
            String::new()
        };
        if let Some(why) = &r.interrupted {
            out.push(format!("{who}the sweep stopped early: {why}"));
        } else if !r.complete {
            out.push(format!(
                "{who}the run is marked incomplete (still running or interrupted): some points \
                 may be missing"
            ));
        }
        for p in &r.points {
            // Peers (copybench peers) check no bytes: unverified is what they are, not a fault.
            let peer = p.tool != copybench_core::result::COPYBENCH_TOOL;
            if (p.verified || peer) && p.error.is_none() {
                continue;
            }
            let mut line = format!(
                "{who}{} {} x{} rep {} ({}): ",
                if peer {
                    p.tool.as_str()
                } else {
                    strategy_label(p.strategy)
                },
                format_bytes(p.msg_size),
                p.threads,
                p.repetition,
                p.mode
            );
            if !p.verified && !peer {
                line.push_str("NOT VERIFIED (the receivers did not confirm every byte)");
            }
            if let Some(e) = &p.error {
                if !p.verified && !peer {
                    line.push_str("; ");
                }
                line.push_str(&format!("error: {e}"));
            }
            line.push_str(if is_plotted(p) {
                " (plotted)"
            } else {
                " (left out of the charts: its numbers are partial)"
            });
            out.push(line);
        }
    }
    out
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "not recorded".to_string(), |v| v.to_string())
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of the facts table: (heading, one HTML cell per run).
fn fact_rows(runs: &[LabeledRun]) -> Vec<(&'static str, Vec<String>)> {
    type Fact = fn(&LabeledRun) -> String;
    let rows: Vec<(&'static str, Fact)> = vec![
        ("file", |r| {
            escape(
                &r.path
                    .as_ref()
                    .map_or_else(|| "(in memory)".into(), |p| p.display().to_string()),
            )
        }),
        ("tool", |r| {
            escape(&format!(
                "{} {}",
                r.results.tool.name, r.results.tool.version
            ))
        }),
        ("command line", |r| {
            format!(
                "<code>{}</code>",
                escape(&shell_words(&r.results.command_line))
            )
        }),
        ("started", |r| escape(&r.results.started_at)),
        ("kernel", |r| escape(&opt(&r.results.host.kernel))),
        ("CPU", |r| escape(&opt(&r.results.host.cpu_model))),
        ("cores", |r| escape(&opt(&r.results.host.cores))),
        ("hostname", |r| escape(&opt(&r.results.host.hostname))),
        ("optmem_max", |r| {
            escape(&r.results.host.optmem_max.map_or_else(
                || "not recorded".into(),
                |v| format!("{v} bytes (net.core.optmem_max)"),
            ))
        }),
        ("counters available", |r| counters_cell(&r.results)),
        ("mode", |r| escape(&r.results.config.mode)),
        ("topology", |r| {
            let t = &r.results.config.topology;
            let mut s = t.kind.clone();
            if let Some(a) = &t.sender_addr {
                s.push_str(&format!(", sender {a}"));
            }
            if let Some(a) = &t.receiver_addr {
                s.push_str(&format!(", receiver {a}"));
            }
            escape(&s)
        }),
        ("MTU", |r| escape(&opt(&r.results.config.topology.mtu))),
        ("strategies", |r| {
            escape(&list(
                &r.results
                    .config
                    .strategies
                    .iter()
                    .map(|s| strategy_label(*s))
                    .collect::<Vec<_>>(),
            ))
        }),
        ("sizes", |r| {
            escape(&list(
                &r.results
                    .config
                    .sizes
                    .iter()
                    .map(|s| format_bytes(*s))
                    .collect::<Vec<_>>(),
            ))
        }),
        ("threads", |r| escape(&list(&r.results.config.threads))),
        ("duration / warm-up", |r| {
            escape(&format!(
                "{} s measured after {} s warm-up",
                r.results.config.duration_s, r.results.config.warmup_s
            ))
        }),
        ("repetitions", |r| {
            escape(&r.results.config.repetitions.to_string())
        }),
        ("fields per message", |r| {
            escape(&r.results.config.fields.to_string())
        }),
        ("buffer placement (align)", |r| {
            escape(&r.results.config.align)
        }),
        ("buffer pool", |r| {
            escape(&match r.results.config.pool {
                Some(n) => format!("{n} message buffers per connection"),
                None => "automatic: about 8 MiB per connection, 4 to 256 buffers (each point records its own)".into(),
            })
        }),
        ("CPU pinning", |r| {
            escape(&r.results.config.pin.as_ref().map_or_else(
                || "not pinned".into(),
                |p| {
                    format!(
                        "senders on CPUs {}, receivers on CPUs {}",
                        list(&p.sender_cpus),
                        list(&p.receiver_cpus)
                    )
                },
            ))
        }),
        ("per-thread counters", |r| {
            escape(if r.results.config.counters {
                "collected"
            } else {
                "off"
            })
        }),
        ("points", |r| {
            let total = r.results.points.len();
            let bad = r.results.points.iter().filter(|p| !is_plotted(p)).count();
            escape(&if bad == 0 {
                format!("{total}")
            } else {
                format!("{total} ({bad} with errors, left out of the charts)")
            })
        }),
    ];
    rows.into_iter()
        .map(|(name, f)| (name, runs.iter().map(f).collect()))
        .collect()
}

/// `host.counters_available` as a list: each counter and whether (or why not) it opened.
fn counters_cell(r: &RunResults) -> String {
    let map = &r.host.counters_available;
    if map.is_empty() {
        return "not recorded".into();
    }
    let mut out = String::new();
    for (k, v) in map {
        let v = match v {
            serde_json::Value::Bool(true) => "yes".to_string(),
            serde_json::Value::Bool(false) => "no".to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(out, "{}: {}<br>", escape(k), escape(&v));
    }
    out
}

/// The command line as one could type it again.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole page.
pub fn page(
    title: &str,
    runs: &[LabeledRun],
    sections: &[ChartSection],
    warnings: &[String],
    echarts_js: &str,
) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", escape(title));
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    let _ = writeln!(
        body,
        "<p class=\"sub\">What each copy on the TCP send path costs: two-copy, \
         scatter-gather and MSG_ZEROCOPY compared. Results: {}.</p>",
        escape(&labels.join(", "))
    );

    if !warnings.is_empty() {
        let _ = writeln!(
            body,
            "<div class=\"warnings\" id=\"warnings\"><h2>Warnings ({})</h2><ul>",
            warnings.len()
        );
        for w in warnings {
            let _ = writeln!(body, "<li>{}</li>", escape(w));
        }
        let _ = writeln!(body, "</ul></div>");
    }

    let _ = writeln!(body, "<h2>Host and configuration</h2>");
    let _ = writeln!(body, "<table class=\"facts\">");
    if runs.len() > 1 {
        let _ = write!(body, "<thead><tr><th></th>");
        for r in runs {
            let _ = write!(body, "<th>{}</th>", escape(&r.label));
        }
        let _ = writeln!(body, "</tr></thead>");
    }
    let _ = writeln!(body, "<tbody>");
    for (name, cells) in fact_rows(runs) {
        let _ = write!(body, "<tr><th>{}</th>", escape(name));
        for c in cells {
            let _ = write!(body, "<td>{c}</td>");
        }
        let _ = writeln!(body, "</tr>");
    }
    let _ = writeln!(body, "</tbody></table>");

    let mut charts = String::new();
    for s in sections {
        let _ = writeln!(body, "<section id=\"{}-section\">", escape(&s.id));
        let _ = writeln!(body, "<h2>{}</h2>", escape(&s.heading));
        let _ = writeln!(body, "<p class=\"caption\">{}</p>", escape(&s.caption));
        match &s.body {
            ChartBody::Chart(option) => {
                let _ = writeln!(body, "<div class=\"chart\" id=\"{}\"></div>", escape(&s.id));
                let _ = writeln!(
                    charts,
                    "{{ id: {}, option: {} }},",
                    serde_json::to_string(&s.id).unwrap_or_default(),
                    script_safe(option)
                );
            }
            ChartBody::Note(note) => {
                let _ = writeln!(
                    body,
                    "<div class=\"note\" id=\"{}\" role=\"note\">{}</div>",
                    escape(&s.id),
                    escape(note)
                );
            }
        }
        for r in &s.remarks {
            let _ = writeln!(body, "<p class=\"remark\">{}</p>", escape(r));
        }
        if let Some((header, rows)) = s.table.split_first() {
            let _ = write!(
                body,
                "<table class=\"facts ratios\" id=\"{}-table\"><thead><tr>",
                escape(&s.id)
            );
            for h in header {
                let _ = write!(body, "<th>{}</th>", escape(h));
            }
            let _ = writeln!(body, "</tr></thead><tbody>");
            for row in rows {
                let _ = write!(body, "<tr>");
                for c in row {
                    let _ = write!(body, "<td>{}</td>", escape(c));
                }
                let _ = writeln!(body, "</tr>");
            }
            let _ = writeln!(body, "</tbody></table>");
        }
        let _ = writeln!(body, "</section>");
    }

    fill(
        TEMPLATE,
        &[
            ("VERSION", env!("CARGO_PKG_VERSION")),
            ("TITLE", &escape(title)),
            ("ECHARTS_VERSION", crate::echarts::ECHARTS_VERSION),
            ("ECHARTS", &script_safe(echarts_js)),
            ("BODY", &body),
            ("CHARTS", &charts),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_known_placeholders_once() {
        let out = fill("a {{X}} b {{Y}} {{Z}}", &[("X", "{{Y}}"), ("Y", "2")]);
        assert_eq!(out, "a {{Y}} b 2 {{Z}}");
    }

    #[test]
    fn script_text_cannot_close_the_element() {
        let js = script_safe("var s = \"</script><!-- x\";");
        assert!(!js.contains("</script"));
        assert!(!js.contains("<!--"));
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let argv = ["copybench", "run", "--sizes", "1k,64k", "it's here"].map(String::from);
        assert_eq!(
            shell_words(&argv),
            "copybench run --sizes 1k,64k 'it'\\''s here'"
        );
    }
}
