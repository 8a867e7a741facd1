//! The page: host and configuration facts, warnings, and the charts, in one HTML file with
//! ECharts inlined.

use std::fmt::Write as _;

use copybench_core::findings::{headline, render_text, Findings};
use copybench_core::result::{RunResults, COPYBENCH_TOOL};

use crate::aggregate::is_plotted;
use crate::charts::{
    format_bytes, strategy_label, ChartBody, ChartSection, SectionTable, DECISION_ID,
};
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
        for f in r.failures.iter().filter(|f| {
            // A failure kept as a point (copybench peers keeps an unverified point) is said
            // below, with the point.
            !r.points.iter().any(|p| {
                (&p.tool, p.strategy, p.msg_size, p.threads, p.repetition)
                    == (&f.tool, f.strategy, f.msg_size, f.threads, f.repetition)
            })
        }) {
            // A failed point left no figure: it is in no chart, so it is said here.
            let what = if f.tool == COPYBENCH_TOOL {
                strategy_label(f.strategy).to_string()
            } else {
                f.tool.clone()
            };
            out.push(format!(
                "{who}{what} {} x{} rep {}: failed, no figure: {}",
                format_bytes(f.msg_size),
                f.threads,
                f.repetition,
                f.error
            ));
        }
        for p in &r.points {
            if let Some(w) = p.rate_warning() {
                out.push(format!(
                    "{who}{} {} x{} rep {} ({}): {w}",
                    strategy_label(p.strategy),
                    format_bytes(p.msg_size),
                    p.threads,
                    p.repetition,
                    p.mode
                ));
            }
            // A sink point has nothing that could verify it: not a warning of its own (the
            // findings carry the caveat); its errors still are.
            let unverifiable = p.not_verifiable.is_some();
            if (p.verified || unverifiable) && p.error.is_none() {
                continue;
            }
            let mut line = format!(
                "{who}{} {} x{} rep {} ({}): ",
                strategy_label(p.strategy),
                format_bytes(p.msg_size),
                p.threads,
                p.repetition,
                p.mode
            );
            if !p.verified && !unverifiable {
                line.push_str("NOT VERIFIED (the receivers did not confirm every byte)");
            }
            if let Some(e) = &p.error {
                if !p.verified && !unverifiable {
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
        ("mode", |r| escape(r.results.config.mode.name())),
        ("topology", |r| {
            let t = &r.results.config.topology;
            let mut s = t.kind.to_string();
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
            escape(&r.results.config.align.to_string())
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

/// `host.counters_available` in words: the counters that opened, then those that did not,
/// grouped by reason (`{"unsupported": "no hardware PMU ..."}` becomes "not available (no
/// hardware PMU ...): cycles, instructions").
fn counters_cell(r: &RunResults) -> String {
    let map = &r.host.counters_available;
    if map.is_empty() {
        return "not recorded".into();
    }
    let mut yes = Vec::new();
    let mut no: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (k, v) in map {
        match counter_state(v) {
            None => yes.push(k.as_str()),
            Some(why) => no.entry(why).or_default().push(k.as_str()),
        }
    }
    let mut lines = Vec::new();
    if !yes.is_empty() {
        lines.push(format!("available: {}", yes.join(", ")));
    }
    for (why, names) in no {
        lines.push(format!("not available ({why}): {}", names.join(", ")));
    }
    lines
        .iter()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// `None` when a counter is available, else why not, in words.
fn counter_state(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Bool(true) => None,
        serde_json::Value::String(s) if s == "supported" || s == "yes" => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(false) => Some("not supported".into()),
        serde_json::Value::Object(o) => {
            Some(o.get("unsupported").and_then(|r| r.as_str()).map_or_else(
                || serde_json::Value::Object(o.clone()).to_string(),
                String::from,
            ))
        }
        other => Some(other.to_string()),
    }
}

/// The host at a glance: a small table (a column per run) of where and how the figures were
/// measured; every fact is in the "Host and configuration" table at the end.
fn host_table(runs: &[LabeledRun]) -> String {
    type Fact = fn(&RunResults) -> String;
    let rows: [(&str, Fact); 4] = [
        ("machine", |r| {
            let h = &r.host;
            let mut parts = Vec::new();
            if let Some(c) = &h.cpu_model {
                parts.push(c.clone());
            }
            if let Some(n) = h.cores {
                parts.push(format!("{n} cores"));
            }
            if let Some(k) = &h.kernel {
                parts.push(format!("Linux {k}"));
            }
            if parts.is_empty() {
                "not recorded".into()
            } else {
                parts.join(", ")
            }
        }),
        ("path", |r| {
            let t = &r.config.topology;
            let mut s = format!("{} {}", t.kind, r.config.protocol);
            if let Some(m) = t.mtu {
                s.push_str(&format!(", MTU {m}"));
            }
            s
        }),
        ("measured", |r| {
            format!(
                "{} s per point after {} s warm-up, {} repetition{}",
                r.config.duration_s,
                r.config.warmup_s,
                r.config.repetitions,
                if r.config.repetitions == 1 { "" } else { "s" }
            )
        }),
        ("started", |r| r.started_at.clone()),
    ];
    let mut out = String::from("<table class=\"facts host\" id=\"host\">");
    if runs.len() > 1 {
        out.push_str("<thead><tr><th></th>");
        for r in runs {
            let _ = write!(out, "<th>{}</th>", escape(&r.label));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for (name, fact) in rows {
        let _ = write!(out, "<tr><th>{}</th>", escape(name));
        for r in runs {
            let _ = write!(out, "<td>{}</td>", escape(&fact(&r.results)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The answer in at most five sentences per run (core's `headline`, what `copybench run`
/// prints last), under the decision map.
fn headline_block(runs: &[LabeledRun], findings: &[Findings]) -> String {
    let mut out = String::from("<div class=\"headline\" id=\"headline\">\n");
    for (run, f) in runs.iter().zip(findings) {
        if runs.len() > 1 {
            let _ = writeln!(out, "<p class=\"run\">{}</p>", escape(&run.label));
        }
        out.push_str("<ul>\n");
        for sentence in headline(f) {
            let _ = writeln!(out, "<li>{}</li>", escape(&sentence));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</div>\n");
    out
}

/// The findings of every run in words, as `copybench run` prints them: a heading per group,
/// a line per size, per break-even and per caveat.
fn findings_block(runs: &[LabeledRun], findings: &[Findings]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section id=\"findings\" class=\"findings\"><h2>Findings</h2>"
    );
    let _ = writeln!(
        out,
        "<p class=\"caption\">A winner is named only when its repetitions' min..max range \
         clears the runner-up's and a Mann-Whitney U test over the repetitions gives p &le; \
         0.10 (with 3 repetitions: every one beats every one), still &le; 0.10 after the \
         Benjamini-Hochberg correction over the group's sizes; else \"no clear winner\". \
         Ratios are medians against two-copy at the same size and thread count; a break-even \
         is the bracket of measured sizes where the sign changes, with a bootstrap interval; \
         the size marked is interpolated on log size between them.</p>"
    );
    for (run, f) in runs.iter().zip(findings) {
        if runs.len() > 1 {
            let _ = writeln!(out, "<h3 class=\"run\">{}</h3>", escape(&run.label));
        }
        let text = render_text(f);
        let mut groups: Vec<FindingsGroup<'_>> = Vec::new();
        for line in text.lines() {
            let item = line.trim_start();
            if !line.starts_with(' ') && item.ends_with(':') {
                groups.push((Some(item), Vec::new()));
                continue;
            }
            if groups.is_empty() {
                groups.push((None, Vec::new()));
            }
            let class = if item.starts_with("caveat:") {
                "caveat"
            } else if item.contains(" breaks even ") {
                "breakeven"
            } else if item.contains(" wins (") {
                "winner"
            } else {
                "size"
            };
            if let Some(g) = groups.last_mut() {
                g.1.push((class, item));
            }
        }
        for (header, items) in groups {
            out.push_str(&group_html(header, &items));
        }
    }
    let _ = writeln!(out, "</section>");
    out
}

/// A group's heading (none for run-wide lines) and its lines with their class.
type FindingsGroup<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);

/// One group of findings: the answers in view (break-even sizes, winners, caveats that change
/// the reading), every size's line and the long caveats folded under them.
fn group_html(header: Option<&str>, items: &[(&str, &str)]) -> String {
    let at_a_glance = |(class, text): &&(&str, &str)| match *class {
        "breakeven" | "winner" => true,
        "caveat" => !text.starts_with("caveat: noisy") && !text.starts_with("caveat: a single"),
        _ => false,
    };
    let li =
        |(class, text): &(&str, &str)| format!("<li class=\"{class}\">{}</li>\n", escape(text));
    let mut out = String::from("<div class=\"group\">");
    if let Some(h) = header {
        let _ = write!(out, "<h4>{}</h4>", escape(h));
    }
    out.push_str("<ul>\n");
    out.extend(items.iter().filter(at_a_glance).map(li));
    out.push_str("</ul>\n");
    let rest: Vec<&(&str, &str)> = items.iter().filter(|i| !at_a_glance(i)).collect();
    if !rest.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>every size: verdict and ratios to two-copy ({} lines)</summary><ul>",
            rest.len()
        );
        out.extend(rest.iter().map(|i| li(i)));
        out.push_str("</ul></details>\n");
    }
    out.push_str("</div>\n");
    out
}

/// A section's table: the first column left-aligned, the figures right-aligned.
fn table_html(t: &SectionTable) -> String {
    let mut out = format!(
        "<div class=\"wide\"><table class=\"facts ratios\" id=\"{}\"><thead><tr>",
        escape(&t.id)
    );
    for h in &t.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for c in row {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
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

/// One section: heading, caption, the chart's container (its option appended to `charts`)
/// or its note, remarks and table.
fn section_html(s: &ChartSection, body: &mut String, charts: &mut String) {
    let _ = writeln!(body, "<section id=\"{}-section\">", escape(&s.id));
    let _ = writeln!(body, "<h2>{}</h2>", escape(&s.heading));
    let _ = writeln!(body, "<p class=\"caption\">{}</p>", escape(&s.caption));
    match &s.body {
        ChartBody::Chart(option) => {
            let _ = writeln!(
                body,
                "<div class=\"chart\" id=\"{}\" data-panels=\"{}\" style=\"height: {}px\"></div>",
                escape(&s.id),
                s.panels.len(),
                s.height_px
            );
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
    if let Some(t) = &s.table {
        body.push_str(&table_html(t));
    }
    let _ = writeln!(body, "</section>");
}

/// What goes on the page besides the runs' facts.
pub struct Content<'a> {
    /// One per run, in order.
    pub findings: &'a [Findings],
    pub sections: &'a [ChartSection],
    pub warnings: &'a [String],
}

/// The whole page.
pub fn page(title: &str, runs: &[LabeledRun], content: &Content<'_>, echarts_js: &str) -> String {
    let (sections, warnings) = (content.sections, content.warnings);
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", escape(title));
    let points = || runs.iter().flat_map(|r| r.results.points.iter());
    let strategies: std::collections::BTreeSet<_> = points()
        .filter(|p| p.tool == COPYBENCH_TOOL)
        .map(|p| p.strategy)
        .collect();
    let names: Vec<&str> = strategies.into_iter().map(strategy_label).collect();
    let peers: std::collections::BTreeSet<&str> = points()
        .map(|p| p.tool.as_str())
        .filter(|t| *t != COPYBENCH_TOOL)
        .collect();
    let beside = if peers.is_empty() {
        String::new()
    } else {
        format!(
            "; beside {}",
            peers.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    let _ = writeln!(
        body,
        "<p class=\"sub\">What each copy on the send path costs: {} compared{beside}.</p>",
        escape(&names.join(", ")),
        beside = escape(&beside)
    );
    body.push_str(&host_table(runs));

    // The answer first: the decision map, its sentences, and the full findings folded away.
    let mut charts = String::new();
    let (map, rest) = match sections.split_first() {
        Some((first, rest)) if first.id == DECISION_ID => (Some(first), rest),
        _ => (None, sections),
    };
    if let Some(map) = map {
        section_html(map, &mut body, &mut charts);
    }
    body.push_str(&headline_block(runs, content.findings));
    let _ = writeln!(
        body,
        "<details class=\"all-findings\"><summary>All findings: every size's verdict and \
         ratios, the break-evens and the caveats</summary>"
    );
    body.push_str(&findings_block(runs, content.findings));
    let _ = writeln!(body, "</details>");
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

    let mut facts = String::new();
    let _ = writeln!(facts, "<h2>Host and configuration</h2>");
    let _ = writeln!(facts, "<table class=\"facts\">");
    if runs.len() > 1 {
        let _ = write!(facts, "<thead><tr><th></th>");
        for r in runs {
            let _ = write!(facts, "<th>{}</th>", escape(&r.label));
        }
        let _ = writeln!(facts, "</tr></thead>");
    }
    let _ = writeln!(facts, "<tbody>");
    for (name, cells) in fact_rows(runs) {
        let _ = write!(facts, "<tr><th>{}</th>", escape(name));
        for c in cells {
            let _ = write!(facts, "<td>{c}</td>");
        }
        let _ = writeln!(facts, "</tr>");
    }
    let _ = writeln!(facts, "</tbody></table>");

    for s in rest {
        section_html(s, &mut body, &mut charts);
    }
    body.push_str(&facts);

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
