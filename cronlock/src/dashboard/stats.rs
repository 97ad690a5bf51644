//! The last hour of a job, from its history: runs ok, runs failed, and
//! scheduled ticks that have no run; and which entries are runs at all
//! (pauses and resumes are history entries too).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::fleet::{FleetJob, schedule_of};
use crate::lock::HistoryEntry;
use crate::lock::control::Marker;
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

/// The job's last hour. Missed: a scheduled tick of an enabled job, within
/// the hour and within what the history still keeps (older entries may have
/// been trimmed, so nothing before the oldest kept entry is counted), past
/// its chance to run, with no run in the history (a record of it as not run
/// is none) and not in paused time.
pub(super) fn last_hour(job: &FleetJob, history: &[HistoryEntry], now: DateTime<Utc>) -> LastHour {
    let hour_ago = now - chrono::Duration::hours(1);
    let mut hour = LastHour::default();
    for entry in history.iter().filter(|entry| entry.started >= hour_ago) {
        match &entry.outcome {
            RunOutcome::Completed => hour.ok += 1,
            outcome if outcome.is_failure() => hour.failed += 1,
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
    // Recorded as not run is not a run: such ticks count as missed.
    let ran: HashSet<DateTime<Utc>> = history
        .iter()
        .filter(|entry| {
            Marker::of(entry).is_none() && !matches!(entry.outcome, RunOutcome::NotRun { .. })
        })
        .map(|entry| entry.tick)
        .collect();
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

/// A stretch of paused time: from, and until (`None`: still paused).
type Span = (DateTime<Utc>, Option<DateTime<Utc>>);

/// When the job was paused, from the pause and resume entries in its
/// history (a pause with an end closes there) and the pause in force. A
/// resume whose pause was trimmed from the history covers everything
/// before it.
fn paused_spans(job: &FleetJob, history: &[HistoryEntry]) -> Vec<Span> {
    let mut markers: Vec<(DateTime<Utc>, bool, Option<DateTime<Utc>>)> = history
        .iter()
        .filter_map(|entry| {
            Some(match Marker::of(entry)? {
                Marker::Paused { until } => (entry.tick, true, until),
                Marker::Resumed => (entry.tick, false, None),
            })
        })
        .collect();
    markers.sort_by_key(|(at, _, _)| *at);
    let mut spans = Vec::new();
    let mut open: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> = None;
    let mut seen_any = false;
    for (at, pause, until) in markers {
        match (pause, open) {
            (true, None) => open = Some((at, until)),
            (true, Some((from, _))) => open = Some((from, until)),
            (false, Some((from, until))) => {
                spans.push((from, Some(until.map_or(at, |until| until.min(at)))));
                open = None;
            }
            (false, None) if !seen_any => spans.push((DateTime::<Utc>::MIN_UTC, Some(at))),
            (false, None) => {}
        }
        seen_any = true;
    }
    if let Some((from, until)) = open {
        spans.push((from, until));
    }
    if let Some(pause) = &job.pause {
        spans.push((pause.since, pause.until));
    }
    spans
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::lock::{JobSummary, Pause};

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 0).unwrap()
    }

    fn job(pause: Option<Pause>) -> FleetJob {
        FleetJob {
            summary: JobSummary {
                name: "every_minute".into(),
                spec: "0 * * * * *".into(),
                tz: "UTC".into(),
                timeout: Duration::from_secs(5),
                enabled: true,
                service: "test".into(),
                instance: "i".into(),
                seen: at(0),
            },
            pause,
            last_run: None,
            next: None,
            missed_last_day: None,
        }
    }

    fn entry(tick: DateTime<Utc>, outcome: RunOutcome) -> HistoryEntry {
        HistoryEntry {
            tick,
            instance: "i".into(),
            started: tick,
            duration: if matches!(outcome, RunOutcome::Skipped { .. }) {
                Duration::ZERO
            } else {
                Duration::from_millis(3)
            },
            outcome,
        }
    }

    fn skipped(tick: DateTime<Utc>, reason: &str) -> HistoryEntry {
        entry(
            tick,
            RunOutcome::Skipped {
                reason: reason.into(),
            },
        )
    }

    /// Minutes of the hour before `now` (at(3600) is on a whole minute).
    fn minute(index: i64) -> DateTime<Utc> {
        let base = at(0) - chrono::Duration::seconds(at(0).timestamp() % 60);
        base + chrono::Duration::minutes(index)
    }

    #[test]
    fn ticks_without_a_run_count_as_missed_back_to_the_oldest_kept_entry() {
        let now = minute(60) + chrono::Duration::seconds(30);
        // Runs at minutes 10..60 except 20 and 30; the history starts at 10.
        let history: Vec<HistoryEntry> = (10..=60)
            .rev()
            .filter(|m| *m != 20 && *m != 30)
            .map(|m| entry(minute(m), RunOutcome::Completed))
            .collect();
        let hour = last_hour(&job(None), &history, now);
        assert_eq!(hour.missed, 2);
        assert_eq!(hour.ok, 49);
    }

    #[test]
    fn a_tick_recorded_as_not_run_is_missed_not_run() {
        let now = minute(60) + chrono::Duration::seconds(30);
        let mut history: Vec<HistoryEntry> = (10..=60)
            .rev()
            .filter(|m| *m != 20)
            .map(|m| entry(minute(m), RunOutcome::Completed))
            .collect();
        history.push(entry(
            minute(20),
            RunOutcome::NotRun {
                reason: crate::NotRun::LockUnavailable,
            },
        ));
        let hour = last_hour(&job(None), &history, now);
        assert_eq!((hour.missed, hour.ok, hour.failed), (1, 50, 0));
    }

    #[test]
    fn paused_time_is_not_missed_and_markers_are_not_runs() {
        let now = minute(60) + chrono::Duration::seconds(30);
        let mut history: Vec<HistoryEntry> = (10..=60)
            .filter(|m| !(20..30).contains(m))
            .map(|m| entry(minute(m), RunOutcome::Completed))
            .collect();
        history.push(skipped(
            minute(19) + chrono::Duration::seconds(30),
            "paused by ops: deploy",
        ));
        history.push(skipped(
            minute(29) + chrono::Duration::seconds(30),
            "resumed by ops",
        ));
        history.sort_by_key(|entry| std::cmp::Reverse(entry.tick));
        assert_eq!(last_hour(&job(None), &history, now).missed, 0);
        // Without the markers the same ten minutes are missed.
        let runs: Vec<HistoryEntry> = history
            .iter()
            .filter(|e| Marker::of(e).is_none())
            .cloned()
            .collect();
        assert_eq!(last_hour(&job(None), &runs, now).missed, 10);
        // A skip the job chose itself is a run, not a pause.
        assert!(Marker::of(&skipped(at(0), "paused upstream, nothing to do")).is_none());
        // A note that looks like an end but is not one is read as none.
        assert_eq!(
            Marker::of(&skipped(
                at(0),
                "paused by ops: wait (until the café opens)"
            )),
            Some(Marker::Paused { until: None })
        );
    }

    #[test]
    fn a_pause_with_an_end_stops_covering_at_its_end() {
        let now = minute(60) + chrono::Duration::seconds(30);
        let until = minute(25);
        let reason = format!(
            "paused by ops (until {})",
            until.format("%Y-%m-%d %H:%M:%S UTC")
        );
        assert_eq!(
            Marker::of(&skipped(at(0), &reason)),
            Some(Marker::Paused { until: Some(until) })
        );
        let mut history: Vec<HistoryEntry> = (10..=60)
            .filter(|m| !(20..30).contains(m))
            .map(|m| entry(minute(m), RunOutcome::Completed))
            .collect();
        history.push(skipped(minute(19) + chrono::Duration::seconds(30), &reason));
        history.sort_by_key(|entry| std::cmp::Reverse(entry.tick));
        // Minutes 20-24 were paused; 25-29 had no run and no pause.
        assert_eq!(last_hour(&job(None), &history, now).missed, 5);
    }

    #[test]
    fn the_pause_in_force_and_a_resume_whose_pause_was_trimmed() {
        let now = minute(60) + chrono::Duration::seconds(30);
        let history = vec![
            entry(minute(50), RunOutcome::Completed),
            skipped(minute(40) + chrono::Duration::seconds(1), "resumed by ops"),
            entry(minute(30), RunOutcome::Completed),
        ];
        let pause = Pause::new(minute(50) + chrono::Duration::seconds(10));
        // 31-40 before the resume: paused; 41-49: missed; 51-60: paused now.
        assert_eq!(last_hour(&job(Some(pause)), &history, now).missed, 9);
    }
}
