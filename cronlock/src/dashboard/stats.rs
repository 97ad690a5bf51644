//! The last hour of a job, from its history: runs ok, runs failed, and
//! scheduled ticks that have no run.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::fleet::{FleetJob, schedule_of};
use crate::lock::HistoryEntry;
use crate::outcome::RunOutcome;

/// How long after its tick a run still counts as on its way (a claim, a
/// slow start) on top of the job's timeout, before the tick counts as missed.
const STILL_ON_ITS_WAY: chrono::Duration = chrono::Duration::seconds(10);

/// The most ticks one job's missed count looks at (an every-second job has
/// 3,600 in an hour).
const MAX_TICKS: usize = 10_000;

/// Runs and missed ticks of the last hour.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct LastHour {
    pub(super) ok: usize,
    pub(super) failed: usize,
    pub(super) missed: usize,
}

impl std::ops::AddAssign for LastHour {
    fn add_assign(&mut self, other: LastHour) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.missed += other.missed;
    }
}

/// Whether a run's outcome counts as a failure (what makes a job "failing").
pub(super) fn is_failure(outcome: &RunOutcome) -> bool {
    matches!(
        outcome,
        RunOutcome::Failed { .. } | RunOutcome::TimedOut | RunOutcome::Panicked { .. }
    )
}

/// The job's last hour. Missed: a scheduled tick of an enabled job, within
/// the hour and within what the history still keeps (older entries may have
/// been trimmed, so nothing before the oldest kept entry is counted), past
/// its chance to run, with no run in the history and not in paused time.
pub(super) fn last_hour(job: &FleetJob, history: &[HistoryEntry], now: DateTime<Utc>) -> LastHour {
    let hour_ago = now - chrono::Duration::hours(1);
    let mut hour = LastHour::default();
    for entry in history.iter().filter(|entry| entry.started >= hour_ago) {
        match &entry.outcome {
            RunOutcome::Completed => hour.ok += 1,
            outcome if is_failure(outcome) => hour.failed += 1,
            _ => {}
        }
    }
    let Some(oldest) = history.iter().map(|entry| entry.tick).min() else {
        return hour;
    };
    let Some(schedule) = schedule_of(&job.summary).filter(|_| job.summary.enabled) else {
        return hour;
    };
    let timeout = chrono::Duration::from_std(job.summary.timeout).unwrap_or_default();
    let until = now - timeout - STILL_ON_ITS_WAY;
    let ran: HashSet<DateTime<Utc>> = history.iter().map(|entry| entry.tick).collect();
    let paused = paused_spans(job, history);
    let mut tick = hour_ago.max(oldest);
    for _ in 0..MAX_TICKS {
        match schedule.next_after(tick) {
            Some(next) if next <= until => tick = next,
            _ => break,
        }
        let in_pause = paused
            .iter()
            .any(|(from, to)| *from <= tick && to.is_none_or(|to| tick < to));
        if !ran.contains(&tick) && !in_pause {
            hour.missed += 1;
        }
    }
    hour
}

/// When the job was paused, from the pause and resume entries in its
/// history and the pause in force.
fn paused_spans(
    job: &FleetJob,
    history: &[HistoryEntry],
) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut markers: Vec<(DateTime<Utc>, bool)> = history
        .iter()
        .filter_map(|entry| match &entry.outcome {
            RunOutcome::Skipped { reason } if reason.starts_with("paused") => {
                Some((entry.tick, true))
            }
            RunOutcome::Skipped { reason } if reason.starts_with("resumed") => {
                Some((entry.tick, false))
            }
            _ => None,
        })
        .collect();
    markers.sort();
    let mut spans = Vec::new();
    let mut open: Option<DateTime<Utc>> = None;
    for (at, pause) in markers {
        match (pause, open) {
            (true, None) => open = Some(at),
            (false, Some(from)) => {
                spans.push((from, Some(at)));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        spans.push((from, None));
    }
    if let Some(pause) = &job.pause {
        spans.push((pause.since, pause.until));
    }
    spans
}
