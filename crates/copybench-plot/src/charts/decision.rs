//! The decision map, first in the report: for each run, topology, protocol and mode a grid
//! of message size (columns) x threads, and target rate when paced (rows), whose cell is
//! coloured by the strategy that wins there (the strategy table's colour), labelled with its
//! margin, pale and hatched where the findings name no clear winner (the leader's colour, so
//! that a lead is still seen, but not claimed); the break-even brackets of the findings are
//! bars on the boundary between the two measured sizes they lie between (solid where both
//! ends are told apart, dashed where not); every cell and bar has a tooltip with its figures.
//!
//! Drawn from the findings only (as the headline sentences under it), never from the points.

use charming::component::{Axis, Grid, Legend, LegendType, Title};
use charming::datatype::{CompositeValue, DataPoint, DataPointItem};
use charming::element::{
    AxisLabel, AxisTick, AxisType, DimensionEncode, Formatter, ItemStyle, JsFunction, NameLocation,
    SplitLine, TextStyle, Tooltip, Trigger,
};
use charming::series::Custom;
use charming::Chart;
use copybench_core::findings::{
    bracket_text, Crossing, Figure, Findings, Group, SizeFinding, StrategyFigures, Verdict,
};
use copybench_core::model::{Protocol, TopologyKind};
use copybench_core::units::rate_text;

use super::*;

/// DOM id of the decision map.
pub const DECISION_ID: &str = "chart-decision";

/// Height of one row of cells, pixels.
const ROW_H: u32 = 52;
/// Above the first panel: the chart's title and subtitle.
const TOP: u32 = 74;
/// Between panels: the x axis labels and name of one, the title of the next.
const GAP: u32 = 96;
/// Below the last panel: its x axis and the legend.
const BOTTOM: u32 = 92;
const LEFT: u32 = 150;
const RIGHT: u32 = 24;

/// Cell states (the third value of a cell): how much the colour claims.
const WINNER: i64 = 2;
const UNCLEAR: i64 = 1;
const ALONE: i64 = 0;

/// Draws one cell: `value` = [column, row, state, margin in %]. Winners are filled with the
/// strategy's colour and labelled with its margin; unclear cells are a pale tint of the
/// leader's colour with diagonal hatching; an uncontested cell is outlined only.
const CELL_JS: &str = "function(params, api) {
  var c = api.coord([api.value(0), api.value(1)]), s = api.size([1, 1]);
  var w = s[0] - 4, h = s[1] - 4, x0 = c[0] - w / 2, y0 = c[1] - h / 2;
  var state = api.value(2), m = api.value(3), color = api.visual('color');
  var kids = [];
  var rect = { x: x0, y: y0, width: w, height: h, r: 3 };
  var pct = isNaN(m) ? '' : (m >= 0 ? '+' : '') + Math.round(m) + '%';
  var line2;
  if (state === 2) {
    kids.push({ type: 'rect', shape: rect, style: { fill: color } });
    line2 = pct ? pct : 'wins';
  } else if (state === 1) {
    kids.push({ type: 'rect', shape: rect, style: { fill: color, opacity: 0.22 } });
    for (var k = 8; k < w + h; k += 8) {
      var t0 = Math.max(0, k - w), t1 = Math.min(h, k);
      if (t1 > t0) {
        kids.push({ type: 'line', silent: true,
          shape: { x1: x0 + k - t0, y1: y0 + t0, x2: x0 + k - t1, y2: y0 + t1 },
          style: { stroke: color, opacity: 0.45, lineWidth: 1 } });
      }
    }
    kids.push({ type: 'rect', shape: rect,
      style: { fill: null, stroke: color, lineWidth: 1, lineDash: [4, 3] } });
    line2 = 'unclear' + (pct ? ' (' + pct + ')' : '');
  } else {
    kids.push({ type: 'rect', shape: rect, style: { fill: '#ffffff', stroke: color, lineWidth: 1.5 } });
    line2 = 'only one measured';
  }
  var ink = state === 2 ? '#ffffff' : '#222222';
  kids.push({ type: 'text', silent: true, style: { text: params.seriesName + '\\n' + line2,
    x: c[0], y: c[1], align: 'center', verticalAlign: 'middle', fill: ink,
    font: (state === 2 ? 'bold ' : '') + '11px sans-serif', width: w - 6, overflow: 'truncate',
    lineHeight: 14 } });
  return { type: 'group', children: kids };
}";

/// Draws one break-even bracket: `value` = [lower column, upper column, row, both ends told
/// apart (1) or not (0)]: a bar on the boundary between the two columns, across the row.
const BRACKET_JS: &str = "function(params, api) {
  var a = api.coord([api.value(0), api.value(2)]), b = api.coord([api.value(1), api.value(2)]);
  var s = api.size([1, 1]), x = (a[0] + b[0]) / 2, h = s[1];
  var color = api.visual('color'), apart = api.value(3) === 1;
  return { type: 'group', children: [
    { type: 'line', shape: { x1: x, y1: a[1] - h / 2 + 1, x2: x, y2: a[1] + h / 2 - 1 },
      style: { stroke: '#ffffff', lineWidth: 8 } },
    { type: 'line', shape: { x1: x, y1: a[1] - h / 2 + 1, x2: x, y2: a[1] + h / 2 - 1 },
      style: { stroke: color, lineWidth: 4, lineDash: apart ? null : [5, 3] } }
  ] };
}";

/// The tooltip of a cell or bracket: its `name`, lines split at `\n`.
const TIP_JS: &str = "return CB.lines(p);";

/// Legend entry of the bracket bars.
const BRACKET_NAME: &str = "break-even bracket";

/// One grid of the map.
struct Panel<'a> {
    title: String,
    /// Groups of one (run, topology, protocol, mode), one row each.
    groups: Vec<&'a Group>,
    /// Column sizes, ascending.
    sizes: Vec<usize>,
}

fn row_label(g: &Group) -> String {
    let t = threads_label(g.threads);
    match g.rate_bps {
        Some(r) => format!("{t} @ {}", rate_text(r as f64)),
        None => t,
    }
}

fn family(g: &Group) -> (TopologyKind, Protocol, Mode) {
    (g.topology, g.protocol, g.mode)
}

fn panels<'a>(runs: &[LabeledRun], findings: &'a [Findings]) -> Vec<Panel<'a>> {
    let mut out = Vec::new();
    for (run, f) in findings.iter().enumerate() {
        let mut keys: Vec<(TopologyKind, Protocol, Mode)> = Vec::new();
        for g in &f.groups {
            if !keys.contains(&family(g)) {
                keys.push(family(g));
            }
        }
        for key in keys {
            let mut groups: Vec<&Group> = f.groups.iter().filter(|g| family(g) == key).collect();
            groups.sort_by_key(|g| (g.threads, g.rate_bps));
            let sizes: BTreeSet<usize> = groups
                .iter()
                .flat_map(|g| g.sizes.iter().map(|s| s.msg_size))
                .collect();
            let metric = groups.first().map_or(Figure::ThroughputGbps, |g| g.metric);
            let paced = groups.iter().any(|g| g.rate_bps.is_some());
            let (topology, protocol, mode) = key;
            out.push(Panel {
                title: format!(
                    "{}{topology} {protocol} {mode}: winner by median {}{}",
                    run_prefix(runs, run),
                    metric.label(),
                    if paced { " at equal load" } else { "" }
                ),
                groups,
                sizes: sizes.into_iter().collect(),
            });
        }
    }
    out
}

fn figure_text(x: &StrategyFigures, f: Figure) -> String {
    let Some(s) = &x.metric else {
        return format!("{}: not measured", strategy_label(x.strategy));
    };
    let d = match f {
        Figure::ThroughputGbps => 2,
        Figure::SenderCpuNsPerByte => 3,
        _ => 1,
    };
    let mut t = format!(
        "{}: {:.*} {} (min..max {:.*}..{:.*}, {} rep{})",
        strategy_label(x.strategy),
        d,
        s.median,
        f.unit(),
        d,
        s.min,
        d,
        s.max,
        x.repetitions,
        if x.repetitions == 1 { "" } else { "s" }
    );
    if let Some(c) = x.copied_ratio {
        t.push_str(&format!(", kernel copied {:.0}%", c * 100.0));
    }
    if !x.trusted {
        t.push_str(", NOT VERIFIED (takes no part)");
    }
    t
}

fn pct(m: Option<f64>) -> String {
    m.filter(|m| m.is_finite())
        .map_or_else(String::new, |m| format!(" by {:.0}%", m * 100.0))
}

/// The lines of a cell's tooltip: where, the verdict in words, every strategy's figures best
/// first.
fn cell_tip(g: &Group, s: &SizeFinding) -> String {
    let mut lines = vec![format!(
        "{} x {} ({} {} {})",
        size_text(s.msg_size as f64),
        row_label(g),
        g.topology,
        g.protocol,
        g.mode
    )];
    lines.push(match &s.verdict {
        Verdict::Winner {
            strategy,
            runner_up,
            margin,
            p_value,
            adjusted_p_value,
        } => {
            let mut t = format!(
                "{} wins{} over {}",
                strategy_label(*strategy),
                pct(*margin),
                strategy_label(*runner_up)
            );
            if let Some(p) = p_value {
                t.push_str(&format!(" (Mann-Whitney p = {p:.3}"));
                if let Some(q) = adjusted_p_value {
                    t.push_str(&format!(", adjusted {q:.3}"));
                }
                t.push(')');
            }
            t
        }
        Verdict::NoClearWinner {
            leader,
            runner_up,
            margin,
            ..
        } => format!(
            "no clear winner: {} leads {}{}, not told apart ({})",
            strategy_label(*leader),
            strategy_label(*runner_up),
            pct(*margin),
            s.unclear_why().unwrap_or_default()
        ),
        Verdict::Uncontested { strategy } => format!(
            "only {} has a verified figure here: no contest",
            strategy_label(*strategy)
        ),
        Verdict::NoData => "no verified figure here".into(),
    });
    let mut ranked: Vec<&StrategyFigures> = s.strategies.iter().collect();
    let better = g.metric.better();
    ranked.sort_by(|a, b| {
        let (a, b) = (
            a.metric.as_ref().map(|m| m.median),
            b.metric.as_ref().map(|m| m.median),
        );
        match (a, b) {
            (Some(a), Some(b)) => match better {
                copybench_core::stats::Better::Higher => b.total_cmp(&a),
                copybench_core::stats::Better::Lower => a.total_cmp(&b),
            },
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    lines.extend(ranked.iter().map(|x| figure_text(x, g.metric)));
    lines.join("\n")
}

/// The cell of one size: who it is coloured for, and how much that colour claims.
fn cell_owner(v: &Verdict) -> Option<(StrategyKind, i64, Option<f64>)> {
    match v {
        Verdict::Winner {
            strategy, margin, ..
        } => Some((*strategy, WINNER, *margin)),
        Verdict::NoClearWinner { leader, margin, .. } => Some((*leader, UNCLEAR, *margin)),
        Verdict::Uncontested { strategy } => Some((*strategy, ALONE, None)),
        Verdict::NoData => None,
    }
}

fn num(v: f64) -> CompositeValue {
    CompositeValue::from(v)
}

/// Height in pixels of a map with these rows per panel.
fn map_height(rows: &[usize]) -> u32 {
    let cells: u32 = rows.iter().map(|&r| r.max(1) as u32 * ROW_H).sum();
    TOP + cells + GAP * rows.len().saturating_sub(1) as u32 + BOTTOM
}

pub(super) fn decision(input: &ChartInputs<'_>) -> ChartSection {
    let panels = panels(input.runs, input.findings);
    let caption = "Who wins where, from the findings: one grid per topology, protocol and mode, \
                   a column per message size and a row per thread count (and target rate, when \
                   paced). A cell filled with a strategy's colour is a winner told apart from \
                   the runner-up (the margin is its median's lead); a pale, hatched cell is a \
                   lead that is not told apart (no clear winner); an outlined cell had a single \
                   strategy to compare. A bar on the boundary between two sizes is a zero-copy \
                   strategy's break-even bracket in the ranking figure (solid: both ends told \
                   apart; dashed: not). Hover a cell or a bar for its figures."
        .to_string();
    let heading = "Decision map: which strategy wins where".to_string();
    if panels.iter().all(|p| p.sizes.is_empty()) {
        return ChartSection {
            id: DECISION_ID.into(),
            heading,
            caption,
            body: ChartBody::Note("No findings to map: no point was measured.".into()),
            remarks: Vec::new(),
            panels: Vec::new(),
            height_px: map_height(&[1]),
            table: None,
        };
    }

    let mut chart = Chart::new()
        .animation(false)
        .background_color("#ffffff")
        .title(
            Title::new()
                .text(heading.as_str())
                .subtext(
                    "filled: winner (margin over the runner-up); pale + hatched: no clear \
                     winner; bars: break-even brackets",
                )
                .left("center"),
        )
        .tooltip(
            Tooltip::new()
                .trigger(Trigger::Item)
                .formatter(Formatter::Function(JsFunction::new_with_args("p", TIP_JS))),
        )
        .legend(
            Legend::new()
                .type_(LegendType::Scroll)
                .bottom(4)
                .left("center"),
        );
    let mut top = TOP;
    let mut titles = Vec::new();
    let mut rows_per_panel = Vec::new();
    for (i, p) in panels.iter().enumerate() {
        let rows = p.groups.len().max(1) as u32;
        let height = rows * ROW_H;
        titles.push(p.title.clone());
        rows_per_panel.push(p.groups.len());
        chart = chart
            .grid(
                Grid::new()
                    .left(f64::from(LEFT))
                    .right(f64::from(RIGHT))
                    .top(f64::from(top))
                    .height(f64::from(height)),
            )
            .title(
                Title::new()
                    .text(p.title.as_str())
                    .left(f64::from(LEFT))
                    .top(f64::from(top.saturating_sub(24)))
                    .text_style(TextStyle::new().font_size(13).color("#333")),
            )
            .x_axis(
                Axis::new()
                    .type_(AxisType::Category)
                    .grid_index(i as f64)
                    .data(
                        p.sizes
                            .iter()
                            .map(|s| size_text(*s as f64))
                            .collect::<Vec<_>>(),
                    )
                    .name("message size (bytes)")
                    .name_location(NameLocation::Middle)
                    .name_gap(26)
                    .axis_tick(AxisTick::new().show(false))
                    .split_line(SplitLine::new().show(false)),
            )
            .y_axis(
                Axis::new()
                    .type_(AxisType::Category)
                    .grid_index(i as f64)
                    .inverse(true)
                    .data(p.groups.iter().map(|g| row_label(g)).collect::<Vec<_>>())
                    .name(if p.groups.iter().any(|g| g.rate_bps.is_some()) {
                        "threads @ rate"
                    } else {
                        "threads"
                    })
                    .name_location(NameLocation::Middle)
                    .name_gap(f64::from(LEFT) - 30.0)
                    .axis_label(AxisLabel::new().font_size(12))
                    .axis_tick(AxisTick::new().show(false))
                    .split_line(SplitLine::new().show(false)),
            );
        top += height + GAP;
        for series in panel_series(p, i) {
            chart = chart.series(series);
        }
    }
    ChartSection {
        id: DECISION_ID.into(),
        heading,
        caption,
        body: ChartBody::Chart(chart.to_string()),
        remarks: Vec::new(),
        panels: titles,
        height_px: map_height(&rows_per_panel),
        table: None,
    }
}

/// The cells of one panel, one series per strategy that owns a cell (so that the legend
/// names each strategy once, in its colour, across panels), and its brackets.
fn panel_series(p: &Panel<'_>, panel: usize) -> Vec<Custom> {
    let column = |size: usize| p.sizes.iter().position(|&s| s == size);
    let mut cells: BTreeMap<StrategyKind, Vec<DataPoint>> = BTreeMap::new();
    let mut brackets: Vec<DataPoint> = Vec::new();
    for (row, g) in p.groups.iter().enumerate() {
        for s in &g.sizes {
            let (Some(col), Some((owner, state, margin))) =
                (column(s.msg_size), cell_owner(&s.verdict))
            else {
                continue;
            };
            let margin = margin
                .filter(|m| m.is_finite())
                .map_or_else(|| None::<f64>.into(), |m| num(m * 100.0));
            cells.entry(owner).or_default().push(
                DataPointItem::new(CompositeValue::Array(vec![
                    num(col as f64),
                    num(row as f64),
                    CompositeValue::from(state),
                    margin,
                ]))
                .name(cell_tip(g, s))
                .into(),
            );
        }
        for b in g.break_even.iter().filter(|b| b.metric == g.metric) {
            let (Some(br), Crossing::WinsFrom { .. } | Crossing::LosesFrom { .. }) =
                (&b.bracket, &b.result)
            else {
                continue;
            };
            let (Some(lo), Some(hi)) = (column(br.bracket_bytes[0]), column(br.bracket_bytes[1]))
            else {
                continue;
            };
            let apart = br.told_apart.iter().all(|a| *a);
            let against: Vec<&str> = b.against.iter().map(|k| strategy_label(*k)).collect();
            let tip = format!(
                "{} vs {} in {} ({} {} {}, {})\n{}",
                strategy_label(b.strategy),
                if against.is_empty() {
                    "the best copying strategy".to_string()
                } else {
                    against.join("/")
                },
                b.metric.label(),
                g.topology,
                g.protocol,
                g.mode,
                row_label(g),
                bracket_text(br)
            );
            brackets.push(
                DataPointItem::new(CompositeValue::Array(vec![
                    num(lo as f64),
                    num(hi as f64),
                    num(row as f64),
                    CompositeValue::from(i64::from(apart)),
                ]))
                .name(tip)
                .item_style(ItemStyle::new().color(strategy_color(b.strategy)))
                .into(),
            );
        }
    }
    let mut out: Vec<Custom> = cells
        .into_iter()
        .map(|(k, data)| {
            Custom::new()
                .name(strategy_label(k))
                .x_axis_index(panel as f64)
                .y_axis_index(panel as f64)
                .render_item(CELL_JS)
                .item_style(ItemStyle::new().color(strategy_color(k)))
                .encode(DimensionEncode::new().x(0).y(1))
                .data(data)
        })
        .collect();
    if !brackets.is_empty() {
        out.push(
            Custom::new()
                .name(BRACKET_NAME)
                .x_axis_index(panel as f64)
                .y_axis_index(panel as f64)
                .render_item(BRACKET_JS)
                .item_style(ItemStyle::new().color("#333333"))
                .encode(DimensionEncode::new().x(vec![0, 1]).y(2))
                .data(brackets),
        );
    }
    out
}
