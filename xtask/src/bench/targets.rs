//! Issue 11's speed targets, judged from one bench run: for each driver column the measured
//! ratio and whether it meets the target, and for a miss the bound measured beside it in the
//! same run (Wine's floors, the Winsock anchor's own ratio): when the bound misses the target
//! by itself, that is the reason (what no driver change removes under Wine); otherwise what
//! is left above it is the project's own cost.
//!
//! The verdicts are printed, never asserted: `cargo xtask test` runs `bench --quick` only to
//! prove the command works.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{
    format_value, Figure, Results, CONNECT_RATE, DISCARD_BULK, DISCARD_SWITCHES, ECHO_64_SWITCHES,
    ECHO_RTT_64, ECHO_RTT_64K, IOCTL_FLOOR, IOCTL_INFO, NATIVE, PAIRED_ECHO_64, SEND_FLOOR_128K,
    SERVER_CALL, SHARED_MEMORY, STREAM_BULK_128K, STREAM_BULK_4M, TRANSACT_RTT_64, WINSOCK,
};

/// Which way a target's ratio must go.
#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(self, ratio: f64) -> bool {
        match self {
            Self::AtMost(limit) => ratio <= limit,
            Self::AtLeast(limit) => ratio >= limit,
        }
    }

    fn text(self) -> String {
        match self {
            Self::AtMost(limit) => format!("≤ {limit}×"),
            Self::AtLeast(limit) => format!("≥ {limit}×"),
        }
    }
}

/// What a target's ratio is made of.
#[derive(Clone, Copy)]
enum Ratio {
    /// A figure over the Winsock anchor's (for rates: higher is better).
    ToWinsock(Figure),
    /// A figure over another of the same column (INFO over the refused IOCTL; large writes'
    /// rate over small writes'), shown for the anchors too when they have both.
    Within(Figure, Figure),
    /// The wsk-rs provider against Wine's netio in the same shell, as a speed: above 1 when
    /// the wsk-rs provider is faster.
    ProviderOverNetio(Figure),
    /// A figure that is itself a ratio per pair of measurements taken side by side (the
    /// paired sessions): its median, and, short of the goal, `within spread` while the 95%
    /// confidence interval of that median still reaches it.
    Paired(Figure),
}

/// Measured beside a target: when this bound alone misses the target, it is the reason;
/// otherwise the measured ratio's distance from it is the project's own cost.
#[derive(Clone, Copy)]
enum Bound {
    /// What a reply with output costs over the refused IOCTL: the floor plus the one more call
    /// to Wine's server that fetches the output, over the floor.
    FloorPlusCall,
    /// The best a request/response through one IOCTL can do here: the refused IOCTL plus the
    /// driver's own echo round trip to a Linux peer, over Winsock's round trip.
    IoctlPlusEcho,
    /// The rate Wine carries a refused SEND of 128 KiB, over Winsock's bulk.
    RefusedSend,
    /// The Winsock anchor's own ratio of the same two figures: a path that loses no more
    /// than user-mode Winsock does (a larger source buffer costs every path) is bounded by it.
    WinsockOwn(Figure, Figure),
    /// Wine's context switches for the same work, Wine's netio's over the wsk-rs provider's
    /// (1× or more: the provider makes Wine do no more than netio does). It never explains a
    /// miss by itself: Wine's side of both providers is measured level or the provider's
    /// doing, so what is left is the provider's own code.
    WineSwitches(Figure),
}

impl Bound {
    /// The bound's ratio for `column`, when both of its parts were measured.
    fn ratio(self, results: &Results, column: &str) -> Option<f64> {
        match self {
            Self::FloorPlusCall => {
                let floor = results.median(IOCTL_FLOOR, column)?;
                ratio(floor + results.median(SERVER_CALL, column)?, floor)
            }
            Self::IoctlPlusEcho => {
                let floor = results.median(IOCTL_FLOOR, column)?;
                let echo = results.median(ECHO_RTT_64, column)?;
                ratio(floor + echo, results.median(TRANSACT_RTT_64, WINSOCK)?)
            }
            Self::RefusedSend => ratio(
                results.median(SEND_FLOOR_128K, column)?,
                results.median(STREAM_BULK_128K, WINSOCK)?,
            ),
            Self::WinsockOwn(a, b) => {
                ratio(results.median(a, WINSOCK)?, results.median(b, WINSOCK)?)
            }
            Self::WineSwitches(figure) => ratio(
                results.median(figure, &netio_column(column)?)?,
                results.median(figure, column)?,
            ),
        }
    }

    /// Whether the bound explains a `measured` ratio that misses `goal`.
    fn explains(self, goal: Goal, bound: f64, measured: f64) -> bool {
        let misses = !goal.met(bound);
        match self {
            // An anchor explains a loss only when the driver loses no more than it.
            Self::WinsockOwn(..) => misses && measured >= bound,
            Self::FloorPlusCall | Self::IoctlPlusEcho | Self::RefusedSend => misses,
            Self::WineSwitches(_) => false,
        }
    }

    const fn text(self) -> &'static str {
        match self {
            Self::FloorPlusCall => {
                "the floor plus Wine's call that fetches a reply's output, over the floor,"
            }
            Self::IoctlPlusEcho => {
                "the refused IOCTL (floor) plus the in-kernel echo 64 B, over Winsock's round trip"
            }
            Self::RefusedSend => "Wine's data floor (a refused 128 KiB SEND) over Winsock's bulk",
            Self::WinsockOwn(..) => {
                "user-mode Winsock's own ratio (every path pays for the larger source buffer)"
            }
            Self::WineSwitches(_) => {
                "Wine's context switches for the same work, netio's over the provider's,"
            }
        }
    }
}

struct Target {
    text: &'static str,
    ratio: Ratio,
    goal: Goal,
    bound: Option<Bound>,
}

/// Issue 11's targets, in its order.
const TARGETS: [Target; 11] = [
    Target {
        text: "echo RTT 64 B (to Winsock)",
        ratio: Ratio::ToWinsock(ECHO_RTT_64),
        goal: Goal::AtMost(1.2),
        bound: None,
    },
    Target {
        text: "echo RTT 64 KiB (to Winsock)",
        ratio: Ratio::ToWinsock(ECHO_RTT_64K),
        goal: Goal::AtMost(1.2),
        bound: None,
    },
    Target {
        text: "bulk into discard (to Winsock)",
        ratio: Ratio::ToWinsock(DISCARD_BULK),
        goal: Goal::AtLeast(0.8),
        bound: None,
    },
    Target {
        text: "connections/s (to Winsock)",
        ratio: Ratio::ToWinsock(CONNECT_RATE),
        goal: Goal::AtLeast(3.0),
        bound: None,
    },
    Target {
        text: "per-call overhead (INFO / floor)",
        ratio: Ratio::Within(IOCTL_INFO, IOCTL_FLOOR),
        goal: Goal::AtMost(1.2),
        bound: Some(Bound::FloorPlusCall),
    },
    Target {
        text: "TRANSACT 64 B (to Winsock)",
        ratio: Ratio::ToWinsock(TRANSACT_RTT_64),
        goal: Goal::AtMost(3.0),
        bound: Some(Bound::IoctlPlusEcho),
    },
    Target {
        text: "KernelTcpStream bulk (to Winsock)",
        ratio: Ratio::ToWinsock(STREAM_BULK_128K),
        goal: Goal::AtLeast(0.5),
        bound: Some(Bound::RefusedSend),
    },
    Target {
        text: "per byte, 4 MiB / 128 KiB writes",
        ratio: Ratio::Within(STREAM_BULK_4M, STREAM_BULK_128K),
        goal: Goal::AtLeast(1.0),
        bound: Some(Bound::WinsockOwn(STREAM_BULK_4M, STREAM_BULK_128K)),
    },
    Target {
        text: "provider vs netio, echo 64 B",
        ratio: Ratio::ProviderOverNetio(ECHO_RTT_64),
        goal: Goal::AtLeast(1.0),
        bound: Some(Bound::WineSwitches(ECHO_64_SWITCHES)),
    },
    Target {
        text: "provider vs netio, echo 64 B, paired",
        ratio: Ratio::Paired(PAIRED_ECHO_64),
        goal: Goal::AtLeast(1.0),
        bound: None,
    },
    Target {
        text: "provider vs netio, discard",
        ratio: Ratio::ProviderOverNetio(DISCARD_BULK),
        goal: Goal::AtLeast(1.0),
        bound: Some(Bound::WineSwitches(DISCARD_SWITCHES)),
    },
];

/// `a / b`, when `b` is not zero.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// A target's verdict in one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    /// Missed by the medians, but the two figures' runs overlap, or (paired) the 95% interval
    /// of the median still reaches the goal (a comparison against 1× only): neither shown met
    /// nor shown missed.
    WithinSpread,
    NotMet,
    /// An anchor's own ratio, shown for comparison; no target applies.
    Anchor,
}

impl Verdict {
    const fn text(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::WithinSpread => "within spread",
            Self::NotMet => "not met",
            Self::Anchor => "anchor",
        }
    }
}

/// One target in one column.
struct Cell {
    column: String,
    ratio: f64,
    verdict: Verdict,
    /// For a miss, the bound's ratio, and whether it misses the target by itself.
    bound: Option<(f64, bool)>,
}

/// Whether the runs of `a` and `b` (in their columns) overlap.
fn spreads_overlap(results: &Results, a: (Figure, &str), b: (Figure, &str)) -> bool {
    let range = |(figure, column): (Figure, &str)| {
        let values = results.samples.get(&(figure.key, column.to_owned()))?;
        let lo = values.iter().copied().reduce(f64::min)?;
        let hi = values.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    };
    match (range(a), range(b)) {
        (Some((a_lo, a_hi)), Some((b_lo, b_hi))) => a_lo <= b_hi && b_lo <= a_hi,
        _ => false,
    }
}

/// The 95% confidence interval of the median of `figure`'s values in `column`, from their
/// order statistics (the values ranked `n/2 ∓ 0.98·√n`, 1-based); `None` for fewer than 6
/// values, where it would span them all.
fn median_interval(results: &Results, figure: Figure, column: &str) -> Option<(f64, f64)> {
    let mut values = results
        .samples
        .get(&(figure.key, column.to_owned()))?
        .clone();
    if values.len() < 6 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = super::count_f64(values.len() as u64);
    let half = 0.98 * n.sqrt();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "ranks between 1 and n, of a few hundred values"
    )]
    let rank = |r: f64| (r.round().max(1.0) as usize).min(values.len()) - 1;
    Some((
        *values.get(rank(n / 2.0 - half))?,
        *values.get(rank(n / 2.0 + half + 1.0))?,
    ))
}

/// The netio column of the same shell as `column` (`wdm/wskrs` → `wdm/wine`).
fn netio_column(column: &str) -> Option<String> {
    column
        .strip_suffix("/wskrs")
        .map(|shell| format!("{shell}/wine"))
}

fn judge(target: &Target, results: &Results) -> Vec<Cell> {
    let mut cells = Vec::new();
    for column in results.ordered_columns() {
        let column = column.as_str();
        let anchor = [WINSOCK, NATIVE].contains(&column);
        if column == SHARED_MEMORY {
            continue;
        }
        let (value, pair) = match target.ratio {
            Ratio::ToWinsock(figure) if !anchor => {
                let value = results.median(figure, column).and_then(|v| {
                    let winsock = results.median(figure, WINSOCK)?;
                    ratio(v, winsock)
                });
                (value, None)
            }
            Ratio::Within(a, b) => {
                let value = results
                    .median(a, column)
                    .and_then(|v| ratio(v, results.median(b, column)?));
                (
                    value,
                    Some(((a, column.to_owned()), (b, column.to_owned()))),
                )
            }
            Ratio::Paired(figure) if !anchor => {
                let Some(value) = results.median(figure, column) else {
                    continue;
                };
                let verdict = if target.goal.met(value) {
                    Verdict::Met
                } else if median_interval(results, figure, column)
                    .is_some_and(|(_, high)| target.goal.met(high))
                {
                    Verdict::WithinSpread
                } else {
                    Verdict::NotMet
                };
                cells.push(Cell {
                    column: column.to_owned(),
                    ratio: value,
                    verdict,
                    bound: None,
                });
                continue;
            }
            Ratio::ProviderOverNetio(figure) if !anchor => {
                let Some(netio) = netio_column(column) else {
                    continue;
                };
                let (Some(ours), Some(theirs)) = (
                    results.median(figure, column),
                    results.median(figure, &netio),
                ) else {
                    continue;
                };
                let value = if figure.unit.higher_is_better() {
                    ratio(ours, theirs)
                } else {
                    ratio(theirs, ours)
                };
                (value, Some(((figure, column.to_owned()), (figure, netio))))
            }
            _ => continue,
        };
        let Some(value) = value else {
            continue;
        };
        let verdict = if anchor {
            Verdict::Anchor
        } else if target.goal.met(value) {
            Verdict::Met
        } else if matches!(target.goal, Goal::AtLeast(limit) if (limit - 1.0).abs() < f64::EPSILON)
            && pair
                .as_ref()
                .is_some_and(|((a, ac), (b, bc))| spreads_overlap(results, (*a, ac), (*b, bc)))
        {
            Verdict::WithinSpread
        } else {
            Verdict::NotMet
        };
        let bound = target
            .bound
            .filter(|_| matches!(verdict, Verdict::NotMet | Verdict::WithinSpread))
            .and_then(|bound| {
                let of = bound.ratio(results, column)?;
                Some((of, bound.explains(target.goal, of, value)))
            });
        cells.push(Cell {
            column: column.to_owned(),
            ratio: value,
            verdict,
            bound,
        });
    }
    cells
}

/// The targets section printed after the table: a row per target measured in this run.
pub(super) fn section(results: &Results) -> String {
    let mut out = String::new();
    let mut reasons = Vec::new();
    let mut rows = Vec::new();
    for target in &TARGETS {
        let cells = judge(target, results);
        if cells.is_empty() {
            continue;
        }
        let mut row = format!("{:<38} {:>7}", target.text, target.goal.text());
        for cell in &cells {
            let _ = write!(
                row,
                " | {:>24}",
                format!(
                    "{}: {:.2}× {}",
                    cell.column,
                    cell.ratio,
                    cell.verdict.text()
                )
            );
            if let (Some((of, alone)), Some(bound)) = (cell.bound, target.bound) {
                reasons.push(format!(
                    "  {} in {} ({}×): {} is {}×{}",
                    target.text,
                    cell.column,
                    format_value(cell.ratio),
                    bound.text(),
                    format_value(of),
                    if alone {
                        " by itself: past reach under Wine"
                    } else {
                        ": the rest is the project's own"
                    }
                ));
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\ntargets (issue 11), judged on the medians above (`within spread`: missed by the \
         medians, but the two figures' runs overlap; for the paired row, the 95% interval of \
         its median reaches the goal):"
    );
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    for column in results.ordered_columns() {
        if let (Some(median), Some((low, high))) = (
            results.median(PAIRED_ECHO_64, column),
            median_interval(results, PAIRED_ECHO_64, column),
        ) {
            let _ = writeln!(
                out,
                "  paired sessions, {column}: netio's RTT over the provider's {}× (median of {} \
                 pairs; 95% interval of the median {}–{}×)",
                format_value(median),
                results
                    .samples
                    .get(&(PAIRED_ECHO_64.key, column.clone()))
                    .map_or(0, Vec::len),
                format_value(low),
                format_value(high)
            );
        }
    }
    if !reasons.is_empty() {
        let _ = writeln!(out, "the misses beside a bound measured in the same run:");
        for reason in reasons {
            let _ = writeln!(out, "{reason}");
        }
    }
    out
}

/// The targets for `--json`.
pub(super) fn to_json(results: &Results) -> Value {
    let targets: Vec<Value> = TARGETS
        .iter()
        .filter_map(|target| {
            let cells = judge(target, results);
            if cells.is_empty() {
                return None;
            }
            let mut columns = serde_json::Map::new();
            for cell in cells {
                columns.insert(
                    cell.column,
                    json!({
                        "ratio": cell.ratio,
                        "verdict": cell.verdict.text(),
                        "bound_ratio": cell.bound.map(|(of, _)| of),
                        "bound_misses_alone": cell.bound.map(|(_, alone)| alone),
                    }),
                );
            }
            Some(json!({
                "target": target.text,
                "goal": target.goal.text(),
                "bound": target.bound.map(Bound::text),
                "columns": columns,
            }))
        })
        .collect();
    Value::Array(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(rows: &[(Figure, &str, &[f64])]) -> Results {
        let mut r = Results::default();
        for (figure, column, values) in rows {
            for v in *values {
                r.add(*figure, column, *v);
            }
        }
        r
    }

    fn cell<'a>(cells: &'a [Cell], column: &str) -> &'a Cell {
        cells.iter().find(|c| c.column == column).unwrap()
    }

    /// `column`'s cell of `target`, which must be a miss with a bound: the bound's ratio,
    /// whether it misses the target alone, and the section's text.
    fn miss_with_bound(target: &Target, r: &Results, column: &str) -> (f64, bool, String) {
        let cells = judge(target, r);
        let c = cell(&cells, column);
        assert_eq!(c.verdict, Verdict::NotMet);
        let (of, alone) = c.bound.unwrap();
        (of, alone, section(r))
    }

    /// The target whose text is `text`.
    fn target(text: &str) -> &'static Target {
        TARGETS.iter().find(|t| t.text == text).unwrap()
    }

    #[test]
    fn a_ratio_to_winsock_is_met_or_not_by_its_median() {
        let r = results(&[
            (ECHO_RTT_64, "wdm/wine", &[31.0, 30.0, 50.0]),
            (ECHO_RTT_64, "wdm/wskrs", &[40.0, 40.0, 20.0]),
            (ECHO_RTT_64, WINSOCK, &[30.0]),
        ]);
        let cells = judge(&TARGETS[0], &r);
        assert_eq!(cells.len(), 2, "no verdict for the anchor itself");
        assert_eq!(cell(&cells, "wdm/wine").verdict, Verdict::Met);
        assert_eq!(cell(&cells, "wdm/wskrs").verdict, Verdict::NotMet);
        assert!((cell(&cells, "wdm/wskrs").ratio - 4.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_floor_that_misses_the_target_by_itself_is_given_as_the_reason() {
        let bulk = TARGETS
            .iter()
            .find(|t| t.text.starts_with("KernelTcpStream"))
            .unwrap();
        let r = results(&[
            (STREAM_BULK_128K, "wdm/wine", &[500.0]),
            (STREAM_BULK_128K, WINSOCK, &[5000.0]),
            (SEND_FLOOR_128K, "wdm/wine", &[700.0]),
        ]);
        let cells = judge(bulk, &r);
        let wine = cell(&cells, "wdm/wine");
        assert_eq!(wine.verdict, Verdict::NotMet);
        let (of, alone) = wine.bound.unwrap();
        assert!((of - 0.14).abs() < 1e-9 && alone);
        let text = section(&r);
        assert!(text.contains("data floor"), "{text}");
        assert!(text.contains("0.14× by itself"), "{text}");
    }

    #[test]
    fn a_bound_within_the_target_leaves_the_rest_to_the_project() {
        let transact = TARGETS
            .iter()
            .find(|t| t.text.starts_with("TRANSACT"))
            .unwrap();
        let r = results(&[
            (TRANSACT_RTT_64, "wdm/wskrs", &[70.0]),
            (TRANSACT_RTT_64, WINSOCK, &[20.0]),
            (IOCTL_FLOOR, "wdm/wskrs", &[30.0]),
            (ECHO_RTT_64, "wdm/wskrs", &[21.0]),
        ]);
        let (of, alone, text) = miss_with_bound(transact, &r, "wdm/wskrs");
        assert!((of - 2.55).abs() < 1e-9 && !alone, "(30 + 21) / 20");
        assert!(
            text.contains("is 2.55×: the rest is the project's own"),
            "{text}"
        );
        assert!(!text.contains("by itself"), "{text}");
    }

    #[test]
    fn per_byte_shows_the_anchors_and_overlapping_runs_are_within_spread() {
        let per_byte = TARGETS
            .iter()
            .find(|t| t.text.starts_with("per byte"))
            .unwrap();
        let r = results(&[
            (STREAM_BULK_4M, "wdm/wskrs", &[680.0, 670.0, 700.0]),
            (STREAM_BULK_128K, "wdm/wskrs", &[690.0, 695.0, 705.0]),
            (STREAM_BULK_4M, "kmdf/wskrs", &[600.0, 610.0]),
            (STREAM_BULK_128K, "kmdf/wskrs", &[690.0, 700.0]),
            (STREAM_BULK_4M, WINSOCK, &[5400.0]),
            (STREAM_BULK_128K, WINSOCK, &[6000.0]),
        ]);
        let cells = judge(per_byte, &r);
        assert_eq!(cell(&cells, "wdm/wskrs").verdict, Verdict::WithinSpread);
        assert_eq!(cell(&cells, "kmdf/wskrs").verdict, Verdict::NotMet);
        let winsock = cell(&cells, WINSOCK);
        assert_eq!(winsock.verdict, Verdict::Anchor);
        assert!((winsock.ratio - 0.9).abs() < 1e-9);
        // Winsock loses 10% at the larger write: it explains the WDM column's 2%, not the
        // KMDF column's 13%.
        let (of, alone) = cell(&cells, "wdm/wskrs").bound.unwrap();
        assert!((of - 0.9).abs() < 1e-9 && alone);
        assert!(!cell(&cells, "kmdf/wskrs").bound.unwrap().1);
        let text = section(&r);
        assert!(
            text.contains("in wdm/wskrs (0.98×): user-mode Winsock's own ratio"),
            "{text}"
        );
        assert!(
            text.contains("in kmdf/wskrs (0.87×): user-mode Winsock's own ratio (every path pays for the larger source buffer) is 0.90×: the rest"),
            "{text}"
        );
    }

    #[test]
    fn the_provider_is_compared_with_netio_in_its_own_shell_as_a_speed() {
        let echo = target("provider vs netio, echo 64 B");
        let r = results(&[
            (ECHO_RTT_64, "wdm/wine", &[30.0]),
            (ECHO_RTT_64, "wdm/wskrs", &[25.0]),
            (ECHO_RTT_64, "kmdf/wine", &[30.0]),
            (ECHO_RTT_64, "kmdf/wskrs", &[40.0]),
        ]);
        let cells = judge(echo, &r);
        assert_eq!(cells.len(), 2, "only the wsk-rs provider's columns");
        let wdm = cell(&cells, "wdm/wskrs");
        assert_eq!(wdm.verdict, Verdict::Met);
        assert!(
            (wdm.ratio - 1.2).abs() < 1e-9,
            "30 µs / 25 µs: 1.2× as fast"
        );
        assert_eq!(cell(&cells, "kmdf/wskrs").verdict, Verdict::NotMet);
    }

    #[test]
    fn a_provider_miss_with_wine_level_is_the_providers_own() {
        let echo = target("provider vs netio, echo 64 B");
        let r = results(&[
            (ECHO_RTT_64, "kmdf/wine", &[26.0, 26.1]),
            (ECHO_RTT_64, "kmdf/wskrs", &[26.3, 26.4]),
            (ECHO_64_SWITCHES, "kmdf/wine", &[13.2]),
            (ECHO_64_SWITCHES, "kmdf/wskrs", &[13.2]),
        ]);
        let (of, alone, text) = miss_with_bound(echo, &r, "kmdf/wskrs");
        assert!((of - 1.0).abs() < 1e-9 && !alone);
        assert!(
            text.contains("netio's over the provider's, is 1.00×: the rest is the project's own"),
            "{text}"
        );
        // Met: no reason printed.
        let r = results(&[
            (ECHO_RTT_64, "kmdf/wine", &[26.0]),
            (ECHO_RTT_64, "kmdf/wskrs", &[25.0]),
            (ECHO_64_SWITCHES, "kmdf/wine", &[13.2]),
            (ECHO_64_SWITCHES, "kmdf/wskrs", &[13.2]),
        ]);
        assert!(cell(&judge(echo, &r), "kmdf/wskrs").bound.is_none());
    }

    #[test]
    fn paired_ratios_are_judged_on_their_median_and_its_interval() {
        let paired = target("provider vs netio, echo 64 B, paired");
        let ahead: Vec<f64> = (0..40).map(|i| 1.02 + f64::from(i % 5) * 0.01).collect();
        let close: Vec<f64> = (0..40).map(|i| 0.955 + f64::from(i % 9) * 0.01).collect();
        let behind: Vec<f64> = (0..40).map(|i| 0.90 + f64::from(i % 5) * 0.01).collect();
        let r = results(&[
            (PAIRED_ECHO_64, "wdm/wskrs", &ahead),
            (PAIRED_ECHO_64, "kmdf/wskrs", &close),
        ]);
        let cells = judge(paired, &r);
        assert_eq!(cells.len(), 2);
        assert_eq!(cell(&cells, "wdm/wskrs").verdict, Verdict::Met);
        let kmdf = cell(&cells, "kmdf/wskrs");
        assert!(kmdf.ratio < 1.0, "{}", kmdf.ratio);
        assert_eq!(
            kmdf.verdict,
            Verdict::WithinSpread,
            "the interval reaches 1"
        );
        let r = results(&[(PAIRED_ECHO_64, "kmdf/wskrs", &behind)]);
        assert_eq!(
            cell(&judge(paired, &r), "kmdf/wskrs").verdict,
            Verdict::NotMet
        );
        let text = section(&r);
        assert!(
            text.contains("paired sessions, kmdf/wskrs: netio's RTT over the provider's 0.92× (median of 40 pairs; 95% interval of the median 0.91–0.93×)"),
            "{text}"
        );
    }

    #[test]
    fn the_interval_of_a_median_brackets_it_and_needs_six_values() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let r = results(&[(PAIRED_ECHO_64, "wdm/wskrs", &values)]);
        let (low, high) = median_interval(&r, PAIRED_ECHO_64, "wdm/wskrs").unwrap();
        // n = 100: ranks 50 ∓ 9.8, i.e. 40 and 61.
        assert_eq!((low, high), (40.0, 61.0));
        let r = results(&[(PAIRED_ECHO_64, "wdm/wskrs", &[1.0, 2.0, 3.0, 4.0, 5.0])]);
        assert!(median_interval(&r, PAIRED_ECHO_64, "wdm/wskrs").is_none());
    }

    #[test]
    fn targets_without_their_figures_are_left_out() {
        let r = results(&[
            (IOCTL_INFO, "wdm/wskrs", &[30.0]),
            (IOCTL_FLOOR, "wdm/wskrs", &[26.0]),
        ]);
        let text = section(&r);
        assert!(text.contains("per-call overhead"), "{text}");
        assert!(!text.contains("echo RTT"), "{text}");
        let json = to_json(&r);
        assert_eq!(json.as_array().unwrap().len(), 1);
        assert_eq!(json[0]["columns"]["wdm/wskrs"]["verdict"], "met");
    }
}
