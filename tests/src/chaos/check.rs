//! The check of a chaos run: every tick of every job of one service, from
//! its ledgers, against the guarantee and the faults that excuse a gap.

use std::collections::BTreeSet;
use std::path::Path;

use super::faults::{Fault, FaultKind};
use super::ledger::{Run, read_ledgers};
use super::{JOBS, Report, START_ORDER_SLACK_MS};

/// Checks the ledgers whose names start with `group` (one service, whose
/// instances' clocks are `skews_ms` off); `forgiving`: Redis may forget
/// claims at some faults (no persistence, or no durability at a failover),
/// so a tick run twice there is counted but allowed.
pub(super) fn check(
    dir: &Path,
    group: &str,
    skews_ms: &[i64],
    (started, stopped): (i64, i64),
    faults: &[Fault],
    forgiving: bool,
    report: &mut Report,
) {
    let runs = read_ledgers(dir, group);
    report.runs += runs.values().map(|list| list.len() as u64).sum::<u64>();
    // Warm-up and cool-down: ticks the fleet was surely up for.
    let first = (started / 1000 + 5) * 1000;
    let last = (stopped / 1000 - 5) * 1000;
    let paused_pids: BTreeSet<u32> = faults
        .iter()
        .filter(|fault| fault.kind == FaultKind::InstancePause)
        .filter_map(|fault| fault.pid)
        .collect();
    let forgets = |tick: i64| forgiving && faults.iter().any(|fault| fault.forgets(tick));

    for (job, period, ttl_ms, every_tick) in JOBS {
        let mut tick = first - first.rem_euclid(period * 1000) + period * 1000;
        while tick <= last {
            report.ticks_checked += 1;
            let count = runs.get(&(job.to_owned(), tick)).map_or(0, Vec::len);
            let around: Vec<&Fault> = faults
                .iter()
                .filter(|fault| fault.excuses(tick, ttl_ms))
                .collect();
            for fault in &around {
                let stats = report.faults.entry(fault.kind).or_default();
                stats.ticks += 1;
                stats.not_run += u64::from(count == 0 && every_tick);
                stats.doubled += u64::from(count > 1);
            }
            if count > 1 {
                report.doubled += 1;
                if !forgets(tick) {
                    report.violations.push(format!(
                        "{group}{job} tick {tick} ran {count} times: {:?}",
                        runs[&(job.to_owned(), tick)]
                    ));
                }
            } else if count == 0 && every_tick && around.is_empty() {
                if overlapped(&runs, job, tick, skews_ms) {
                    report.skipped_overlap += 1;
                } else {
                    report.lost += 1;
                    report
                        .violations
                        .push(format!("{group}{job} tick {tick} never ran"));
                }
            }
            tick += period * 1000;
        }
        check_order(
            group,
            job,
            runs.iter()
                .filter(|((name, _), _)| name == job)
                .flat_map(|(_, list)| list),
            &paused_pids,
            &forgets,
            report,
        );
    }
}

/// Whether every instance found a run of `job` going when it claimed
/// `tick` (at `tick - skew` real time): with `overlap = "skip"` the tick is
/// skipped by rule. It happens when a tick ran late and instances whose
/// clocks are a period apart claim two ticks at the same real instant.
fn overlapped(
    runs: &std::collections::BTreeMap<(String, i64), Vec<Run>>,
    job: &str,
    tick: i64,
    skews_ms: &[i64],
) -> bool {
    let going: Vec<(i64, i64)> = runs
        .iter()
        .filter(|((name, other), _)| name == job && (*other - tick).abs() <= 30_000)
        .flat_map(|(_, list)| list)
        // A run that panicked logged no end: it lasted a moment.
        .map(|run| (run.start, run.end.unwrap_or(run.start + 200)))
        .collect();
    skews_ms.iter().all(|skew| {
        let claimed = tick - skew;
        going
            .iter()
            .any(|(start, end)| *start - 100 <= claimed && claimed <= *end + 100)
    })
}

/// Runs in start order: fencing tokens grow, and runs never overlap,
/// except a paused process's run, whose late end is a stale write.
fn check_order<'a>(
    group: &str,
    job: &str,
    runs: impl Iterator<Item = &'a Run>,
    paused_pids: &BTreeSet<u32>,
    forgets: &dyn Fn(i64) -> bool,
    report: &mut Report,
) {
    let mut ordered: Vec<&Run> = runs.collect();
    ordered.sort_by_key(|run| run.start);
    let mut busy_until: Option<(i64, u32)> = None;
    let mut earlier = 0usize;
    let mut newest_earlier_token = 0u64;
    for (index, run) in ordered.iter().enumerate() {
        // The newest token among runs that started clearly before this one.
        while earlier < index && ordered[earlier].start < run.start - START_ORDER_SLACK_MS {
            newest_earlier_token = newest_earlier_token.max(ordered[earlier].token);
            earlier += 1;
        }
        if run.token <= newest_earlier_token
            && !paused_pids.contains(&run.pid)
            && !forgets(run.tick)
        {
            report.violations.push(format!(
                "{group}{job}: fencing token {} after {newest_earlier_token} (run {run:?})",
                run.token
            ));
        }
        if let Some((until, pid)) = busy_until {
            if run.start < until && !paused_pids.contains(&pid) && !forgets(run.tick) {
                report.violations.push(format!(
                    "{group}{job}: run {run:?} started while pid {pid}'s run went on until {until}"
                ));
            } else if run.start < until {
                report.stale_writes += 1;
            }
        }
        if let Some(end) = run.end {
            busy_until = Some(busy_until.map_or((end, run.pid), |(until, pid)| {
                if end > until {
                    (end, run.pid)
                } else {
                    (until, pid)
                }
            }));
        }
    }
}
