//! Findings: the answer a run gives, computed from its points with its uncertainty.
//!
//! The data is [`crate::model::findings`] (re-exported here), the computation is `compute.rs`,
//! the text for terminals and reports is `text.rs`.
//!
//! For every (topology, protocol, mode, thread count) group, [`findings`] says:
//! - **the winner at each size** by the mode's figure (stream: median throughput, higher is
//!   better; rr: median p50 round trip, lower is better), or "no clear winner". The best and the
//!   runner-up by median are compared over their repetitions with [`crate::stats::separate`]:
//!   a winner is declared only when their min..max ranges do not overlap **and** a two-sided
//!   Mann-Whitney U test gives p <= 0.10. With one repetition there is no test and no winner;
//!   with 2 vs 2 the test cannot reach 0.10; with 3 vs 3 (the default) it takes every
//!   repetition of the best beating every repetition of the runner-up. Only cells whose points
//!   were all verified (or had no receiver to verify them) compete.
//! - **each strategy relative to two-copy** at each size: median figure / two-copy's median
//!   figure, and median sender CPU ns/byte / two-copy's; `null` when either side is missing.
//! - **the break-even size** of every zero-copy strategy (any strategy whose points carry
//!   `zerocopy` statistics; every other one counts as copying) against the best copying
//!   strategy at each size, for the mode's figure and for sender CPU per byte: the size where
//!   the relative advantage of the zero-copy strategy's median over the best copying median
//!   changes sign, interpolated linearly in log2(size) between the two measured sizes around
//!   the change. "Beats" means strictly better; a tie counts as not beating. With several
//!   changes the last one is reported ("wins from here on" or "loses from here on") and the
//!   result is flagged non-monotonic. Losing at every size is "above the largest size" when the
//!   advantage rose at each of the last two steps by 5 points or more in all, else "never in
//!   this range"; winning at every size is "at or below the smallest size".
//! - **caveats** in words: zero-copy sends the kernel copied, CPU figures that are missing,
//!   noisy cells, unverified points, points without a receiver, single repetitions, and
//!   strategies that ran from buffer pools of different sizes (`pools.rs`).
//!
//! [`render_text`] turns them into a few lines per group for the terminal, and [`headline`]
//! into at most five sentences (`headline.rs`): the answer at a glance, printed last by
//! `copybench run` and shown under the report's decision map.

mod compute;
mod headline;
mod paced;
mod pools;
mod receive;
mod text;

pub use crate::model::findings::*;
pub use compute::{findings, findings_for_run};
pub(crate) use compute::{has_receiver, interpolate_log2};
pub use headline::{headline, HEADLINE_MAX};
pub use receive::{primary as primary_receive, receive_findings, receive_text};
pub use text::{bracket_text, render_text, size_text};
