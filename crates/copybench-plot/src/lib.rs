//! copybench-plot: turns copybench result files into one self-contained HTML report.
