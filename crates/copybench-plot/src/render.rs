//! An [`XyChart`] as an ECharts option: one grid (panel) per thread count or size, in two
//! columns, sharing one legend, so that a strategy is one colour and one legend entry across
//! every panel.

use charming::component::{
    Axis, DataView, Feature, Grid, Legend, LegendType, SaveAsImage, Title, Toolbox,
};
use charming::datatype::{CompositeValue, DataPoint};
use charming::element::{
    AxisLabel, AxisType, DimensionEncode, Formatter, ItemStyle, JsFunction, Label, LineStyle,
    LineStyleType, NameLocation, Symbol, TextStyle, Tooltip, Trigger,
};
use charming::element::{MarkLine, MarkLineData, MarkLineVariant};
use charming::series::{Custom, Line};
use charming::Chart;

use copybench_core::StrategyKind;

use crate::aggregate::Stat;
use crate::charts::VISIBLE_SERIES;

/// How the x axis reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum XKind {
    /// Message size in bytes, log-2 axis.
    Bytes,
    /// Thread count, linear axis.
    Threads,
    /// A rate in Gbps, linear axis (the paced chart).
    Gbps,
}

impl XKind {
    fn js(self) -> &'static str {
        match self {
            XKind::Bytes => "bytes",
            XKind::Threads => "threads",
            XKind::Gbps => "gbps",
        }
    }
}

/// A line drawn across a panel: at an x (a break-even size) or at a y (ratio 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mark {
    X { at: f64, label: String },
    Y { at: f64, label: String },
}

/// One line: its look, its panel and its points (x, median/min/max over `n` repetitions).
pub(crate) struct SeriesSpec {
    pub name: String,
    pub color: &'static str,
    pub line: LineStyleType,
    pub symbol: Symbol,
    pub panel: usize,
    pub points: Vec<(f64, Option<Stat>, usize)>,
    pub marks: Vec<Mark>,
}

pub(crate) struct XyChart {
    pub id: String,
    pub title: String,
    pub subtitle: String,
    pub x: XKind,
    pub x_name: String,
    pub y_name: String,
    pub unit: String,
    pub y_log: bool,
    pub y_range: Option<(f64, f64)>,
    /// Panel titles, in order; a series names its panel by index.
    pub panels: Vec<String>,
    pub series: Vec<SeriesSpec>,
    /// Strategies by importance: with more than [`VISIBLE_SERIES`] series names, the series
    /// of the first are shown and the rest deselected in the legend ([`hidden_series`]).
    pub rank: Vec<StrategyKind>,
}

/// The series names of `series` to deselect in the legend when the chart opens: none when
/// there are at most [`VISIBLE_SERIES`]; else all but the first [`VISIBLE_SERIES`] by the
/// rank of the strategy each names (the longest strategy label in the name, so that
/// "io_uring zero-copy" is not "zero-copy"), then in order of appearance. A name that names no
/// strategy (a peer tool, a receive figure) comes after every strategy.
pub(crate) fn hidden_series(series: &[SeriesSpec], rank: &[StrategyKind]) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for s in series {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    if names.len() <= VISIBLE_SERIES {
        return Vec::new();
    }
    let rank_of = |name: &str| {
        StrategyKind::ALL
            .iter()
            .filter(|k| name.contains(k.label()))
            .max_by_key(|k| k.label().len())
            .and_then(|k| rank.iter().position(|r| r == k))
            .unwrap_or(usize::MAX)
    };
    let mut order: Vec<(usize, usize, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (rank_of(n), i, *n))
        .collect();
    order.sort();
    order
        .into_iter()
        .skip(VISIBLE_SERIES)
        .map(|(_, _, n)| n.to_string())
        .collect()
}

const TOP: u32 = 84;
const PANEL_H: u32 = 240;
const GAP: u32 = 78;
const BOTTOM: u32 = 84;

/// Columns of panels: one for a single panel, else two.
fn columns(panels: usize) -> usize {
    if panels <= 1 {
        1
    } else {
        2
    }
}

/// Height in pixels the chart needs for its panels.
pub(crate) fn height(panels: usize) -> u32 {
    let rows = panels.max(1).div_ceil(columns(panels)) as u32;
    TOP + rows * PANEL_H + (rows - 1) * GAP + BOTTOM
}

/// True when the positive values span a decade or more (and none is 0 or below).
pub(crate) fn spans_decades(series: &[SeriesSpec]) -> bool {
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|(_, s, _)| *s)
        .flat_map(|s| [s.min, s.median, s.max])
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    !values.is_empty() && lo > 0.0 && hi / lo >= 10.0
}

/// Draws a vertical min..max bar with caps at each point: `value` = [x, min, max].
const ERROR_BAR_JS: &str = "function(params, api) {
  var x = api.value(0), lo = api.value(1), hi = api.value(2);
  if (isNaN(lo) || isNaN(hi) || lo === hi) { return null; }
  var a = api.coord([x, hi]), b = api.coord([x, lo]), w = 4;
  var style = { stroke: api.visual('color'), lineWidth: 1.4, fill: null };
  return { type: 'group', children: [
    { type: 'line', shape: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, style: style },
    { type: 'line', shape: { x1: a[0] - w, y1: a[1], x2: a[0] + w, y2: a[1] }, style: style },
    { type: 'line', shape: { x1: b[0] - w, y1: b[1], x2: b[0] + w, y2: b[1] }, style: style }
  ] };
}";

fn num(v: f64) -> CompositeValue {
    CompositeValue::from(v)
}

/// Smallest and largest x over all series.
fn x_extent(c: &XyChart) -> (f64, f64) {
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

fn x_axis(c: &XyChart, panel: usize) -> Axis {
    let (lo, hi) = x_extent(c);
    let axis = match c.x {
        XKind::Bytes => {
            Axis::new()
                .type_(AxisType::Log)
                .log_base(2)
                .axis_label(AxisLabel::new().formatter(Formatter::Function(
                    JsFunction::new_with_args("v", "return CB.bytes(v);"),
                )))
        }
        XKind::Threads => Axis::new().type_(AxisType::Value).min_interval(1),
        XKind::Gbps => Axis::new().type_(AxisType::Value),
    };
    let axis = if lo < hi { axis.min(lo).max(hi) } else { axis };
    axis.grid_index(panel as f64)
        .name(c.x_name.as_str())
        .name_location(NameLocation::Middle)
        .name_gap(26)
}

fn y_axis(c: &XyChart, panel: usize) -> Axis {
    let axis =
        Axis::new()
            .type_(if c.y_log {
                AxisType::Log
            } else {
                AxisType::Value
            })
            .grid_index(panel as f64)
            .name(c.y_name.as_str())
            .name_location(NameLocation::Middle)
            .name_gap(48)
            .axis_label(AxisLabel::new().formatter(Formatter::Function(
                JsFunction::new_with_args("v", "return CB.num(v);"),
            )));
    match c.y_range {
        Some((lo, hi)) => axis.min(lo).max(hi),
        None => axis,
    }
}

/// Grid and panel title of panel `i` of `n`.
fn panel_frame(i: usize, n: usize, title: &str) -> (Grid, Title) {
    let cols = columns(n);
    let (row, col) = ((i / cols) as u32, i % cols);
    let top = TOP + row * (PANEL_H + GAP);
    let (left, width) = match (cols, col) {
        (1, _) => ("76", "88%"),
        (_, 0) => ("7%", "40%"),
        _ => ("57%", "40%"),
    };
    let grid = Grid::new()
        .left(left)
        .top(f64::from(top))
        .width(width)
        .height(f64::from(PANEL_H));
    let title = Title::new()
        .text(title)
        .left(left)
        .top(f64::from(top.saturating_sub(24)))
        .text_style(TextStyle::new().font_size(13).color("#333"));
    (grid, title)
}

fn mark_line(marks: &[Mark], color: &str) -> MarkLine {
    let data = marks
        .iter()
        .map(|m| {
            let (d, label) = match m {
                Mark::X { at, label } => (MarkLineData::new().x_axis(*at), label),
                Mark::Y { at, label } => (MarkLineData::new().y_axis(*at), label),
            };
            MarkLineVariant::Simple(d.name(label.as_str()))
        })
        .collect();
    MarkLine::new()
        .silent(true)
        .symbol(vec![Symbol::None, Symbol::None])
        .line_style(
            LineStyle::new()
                .color(color)
                .width(1.5)
                .type_(LineStyleType::Dashed),
        )
        .label(
            Label::new()
                .formatter(Formatter::String("{b}".into()))
                .color(color)
                .font_size(11),
        )
        .data(data)
}

/// The median line of one series, with its marks.
fn line_series(s: &SeriesSpec) -> Line {
    let data: Vec<DataPoint> = s
        .points
        .iter()
        .map(|(x, stat, n)| {
            let mut value: Vec<CompositeValue> = match stat {
                Some(st) => vec![num(*x), num(st.median), num(st.min), num(st.max)],
                // A gap, not a zero: ECharts leaves null out and breaks the line.
                None => vec![
                    num(*x),
                    None::<f64>.into(),
                    None::<f64>.into(),
                    None::<f64>.into(),
                ],
            };
            value.push(CompositeValue::from(*n as i64));
            DataPoint::from(CompositeValue::Array(value))
        })
        .collect();
    let mut line = Line::new()
        .name(s.name.as_str())
        .symbol(s.symbol.clone())
        .symbol_size(7)
        .connect_nulls(false)
        .x_axis_index(s.panel as f64)
        .y_axis_index(s.panel as f64)
        .item_style(ItemStyle::new().color(s.color))
        .line_style(LineStyle::new().color(s.color).width(2).type_(s.line))
        .data(data);
    if !s.marks.is_empty() {
        line = line.mark_line(mark_line(&s.marks, s.color));
    }
    line
}

/// The min..max bars of one series, if any point has a spread.
fn bar_series(s: &SeriesSpec) -> Option<Custom> {
    let bars: Vec<DataPoint> = s
        .points
        .iter()
        .filter_map(|(x, stat, _)| stat.map(|st| (*x, st)))
        .filter(|(_, st)| st.min < st.max)
        .map(|(x, st)| {
            DataPoint::from(CompositeValue::Array(vec![
                num(x),
                num(st.min),
                num(st.max),
            ]))
        })
        .collect();
    (!bars.is_empty()).then(|| {
        Custom::new()
            .name(s.name.as_str())
            .x_axis_index(s.panel as f64)
            .y_axis_index(s.panel as f64)
            .render_item(ERROR_BAR_JS)
            .item_style(ItemStyle::new().color(s.color))
            .encode(DimensionEncode::new().x(0).y(vec![1, 2]))
            .data(bars)
    })
}

fn frame(c: &XyChart) -> Chart {
    let hidden = hidden_series(&c.series, &c.rank);
    let subtitle = if hidden.is_empty() {
        c.subtitle.clone()
    } else {
        format!(
            "{}; {} more series in the legend, one click away",
            c.subtitle,
            hidden.len()
        )
    };
    let mut legend = Legend::new()
        .type_(LegendType::Scroll)
        .bottom(4)
        .left("center");
    if !hidden.is_empty() {
        legend = legend.selected(hidden.into_iter().map(|n| (n, false)));
    }
    let file_name = c.id.trim_start_matches("chart-").to_string();
    let tip = format!(
        "return CB.tip(p, '{}', {});",
        c.x.js(),
        serde_json::to_string(&c.unit).unwrap_or_else(|_| "''".into())
    );
    Chart::new()
        .animation(false)
        .background_color("#ffffff")
        .title(
            Title::new()
                .text(c.title.as_str())
                .subtext(subtitle.as_str())
                .left("center"),
        )
        .tooltip(
            Tooltip::new()
                .trigger(Trigger::Item)
                .formatter(Formatter::Function(JsFunction::new_with_args("p", &tip))),
        )
        .legend(legend)
        .toolbox(
            Toolbox::new().right(16).feature(
                Feature::new()
                    .save_as_image(
                        SaveAsImage::new()
                            .name(format!("copybench-{file_name}"))
                            .background_color("#ffffff"),
                    )
                    .data_view(DataView::new().read_only(true)),
            ),
        )
}

/// The ECharts option of `c`, as JavaScript (JSON plus inline functions).
pub(crate) fn render_option(c: &XyChart) -> String {
    let mut chart = frame(c);
    let n = c.panels.len().max(1);
    for i in 0..n {
        let name = c.panels.get(i).map_or("", String::as_str);
        let (grid, title) = panel_frame(i, n, name);
        chart = chart
            .grid(grid)
            .title(title)
            .x_axis(x_axis(c, i))
            .y_axis(y_axis(c, i));
    }
    for s in &c.series {
        chart = chart.series(line_series(s));
        if let Some(bars) = bar_series(s) {
            chart = chart.series(bars);
        }
    }
    chart.to_string()
}
