//! Fires recorded by the jobs, and what they add up to.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// One start of one job: which tick it ran for and how late it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// Job number, 0-based.
    pub job: u32,
    /// The tick the fire belongs to, ms since the epoch.
    pub tick_ms: i64,
    /// Start of the job's body minus the tick, µs.
    pub late_us: i64,
}

/// Where the jobs of one process write their fires.
#[derive(Debug, Default)]
pub struct Recorder {
    fires: Mutex<Vec<Fire>>,
}

impl Recorder {
    /// Records that `job` started at `start_us` for the tick `tick_ms`.
    pub fn record(&self, job: u32, tick_ms: i64, start_us: i64) {
        let fire = Fire {
            job,
            tick_ms,
            late_us: start_us - tick_ms * 1_000,
        };
        self.fires
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(fire);
    }

    /// Everything recorded so far, one `job tick_ms late_us` line each.
    pub fn to_lines(&self) -> String {
        let fires = self.fires.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(fires.len() * 24);
        for fire in fires.iter() {
            let _ = writeln!(out, "{} {} {}", fire.job, fire.tick_ms, fire.late_us);
        }
        out
    }
}

/// Reads lines written by [`Recorder::to_lines`]; malformed lines are skipped.
pub fn parse_lines(text: &str) -> Vec<Fire> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace().map(str::parse::<i64>);
            let (Some(Ok(job)), Some(Ok(tick_ms)), Some(Ok(late_us))) =
                (parts.next(), parts.next(), parts.next())
            else {
                return None;
            };
            Some(Fire {
                job: u32::try_from(job).ok()?,
                tick_ms,
                late_us,
            })
        })
        .collect()
}

/// Missed and doubled fires and the lateness distribution over a window.
#[derive(Debug, Clone, Default)]
pub struct FireReport {
    /// (job, tick) pairs due in the window.
    pub expected: u64,
    /// Pairs that never started.
    pub missed: u64,
    /// Starts beyond the first of a pair.
    pub duplicated: u64,
    /// Lateness of the first start of each pair, µs, sorted.
    pub late_us: Vec<i64>,
}

impl FireReport {
    /// Checks `fires` against every tick of `jobs` jobs due each second from
    /// `from_ms` to `to_ms` (both whole seconds, inclusive).
    pub fn new(fires: &[Fire], jobs: u32, from_ms: i64, to_ms: i64) -> FireReport {
        let mut starts: HashMap<(u32, i64), Vec<i64>> = HashMap::new();
        for fire in fires {
            if (from_ms..=to_ms).contains(&fire.tick_ms) {
                starts
                    .entry((fire.job, fire.tick_ms))
                    .or_default()
                    .push(fire.late_us);
            }
        }
        let mut report = FireReport::default();
        for job in 0..jobs {
            let mut tick = from_ms;
            while tick <= to_ms {
                report.expected += 1;
                match starts.get(&(job, tick)) {
                    None => report.missed += 1,
                    Some(lates) => {
                        report.duplicated += lates.len() as u64 - 1;
                        report
                            .late_us
                            .push(lates.iter().copied().min().unwrap_or_default());
                    }
                }
                tick += 1_000;
            }
        }
        report.late_us.sort_unstable();
        report
    }

    /// The `q` quantile (0.0–1.0) of lateness in µs, nearest rank.
    pub fn quantile_us(&self, q: f64) -> i64 {
        if self.late_us.is_empty() {
            return 0;
        }
        let rank = (q * self.late_us.len() as f64).ceil() as usize;
        self.late_us[rank.clamp(1, self.late_us.len()) - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_missed_and_doubled_fires_and_ignores_ticks_outside_the_window() {
        let fires = [
            Fire {
                job: 0,
                tick_ms: 1_000,
                late_us: 300,
            },
            Fire {
                job: 0,
                tick_ms: 1_000,
                late_us: 900,
            },
            Fire {
                job: 1,
                tick_ms: 1_000,
                late_us: 100,
            },
            Fire {
                job: 1,
                tick_ms: 2_000,
                late_us: 200,
            },
            Fire {
                job: 0,
                tick_ms: 9_000,
                late_us: 5,
            },
        ];
        let report = FireReport::new(&fires, 2, 1_000, 2_000);
        assert_eq!(report.expected, 4);
        assert_eq!(report.missed, 1, "job 0 never ran for 2 000");
        assert_eq!(report.duplicated, 1);
        assert_eq!(report.late_us, [100, 200, 300]);
        assert_eq!(report.quantile_us(0.5), 200);
        assert_eq!(report.quantile_us(1.0), 300);
    }

    #[test]
    fn lines_round_trip() {
        let recorder = Recorder::default();
        recorder.record(7, 5_000, 5_000_123);
        let fires = parse_lines(&recorder.to_lines());
        assert_eq!(
            fires,
            [Fire {
                job: 7,
                tick_ms: 5_000,
                late_us: 123
            }]
        );
    }
}
