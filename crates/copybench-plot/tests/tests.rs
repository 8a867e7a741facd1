//! copybench-plot's integration tests, one binary with a module per topic (as ripgrep does),
//! so polars is linked once: aggregation of a real loopback fixture, chart contents, error
//! messages, the peers' section, and the report rendered in headless Chromium.

mod aggregate;
mod browser;
mod charts;
mod common;
mod decision;
mod errors;
mod paced;
mod peers;
mod receive;
