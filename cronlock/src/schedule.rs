//! Cron specs and their fire times.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use cronlock_spec::{CronFields, SpecBody};
pub use cronlock_spec::{Field, SpecError, SpecErrorKind};
use engine::Engine;

/// A parsed cron spec with its time zone: when a job fires.
///
/// The language is robfig/cron v3 "with seconds": six fields
/// `second minute hour day-of-month month day-of-week`, Sunday is 0 (7 too),
/// `* ? , - /`, `N/step` (from N to the end of the field), month and day
/// names, the descriptors `@yearly @annually @monthly @weekly @daily
/// @midnight @hourly`, `@every 30s`, and a `CRON_TZ=Area/City ` prefix. When
/// both day-of-month and day-of-week are restricted a day matches if either
/// does.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cronlock::Schedule;
///
/// let schedule: Schedule = "0 */5 * * * *".parse()?;
/// let now = Utc.with_ymd_and_hms(2027, 1, 1, 10, 2, 0).unwrap();
/// assert_eq!(schedule.next_after(now), Some(Utc.with_ymd_and_hms(2027, 1, 1, 10, 5, 0).unwrap()));
/// # Ok::<(), cronlock::SpecError>(())
/// ```
///
/// # Time zones
///
/// A spec is read in its zone: a `CRON_TZ=` prefix, else
/// [`Schedule::with_timezone`], else [`Schedule::with_default_timezone`]
/// (the scheduler's zone), else UTC. `@every` intervals are counted from the
/// Unix epoch, so every instance of a fleet agrees on the ticks whatever its
/// start time; zones do not apply to them.
///
/// # Daylight-saving time
///
/// A spec is *fixed-time* when its second, minute and hour fields each match
/// a single value (`0 30 2 * * *`, `@daily`); every other spec is an
/// *interval* spec (`0 */15 * * * *`, `0 0 1-3 * * *`). Around a transition:
///
/// | transition | fixed-time spec | interval spec |
/// |---|---|---|
/// | ordinary day | fires at its local time | fires at each matching local time |
/// | spring forward, local time inside the gap | fires once, at the first instant after the gap (the transition instant) | skips the local times that do not exist |
/// | spring forward, local time outside the gap | fires at its local time | fires at each matching local time |
/// | fall back, local time inside the overlap | fires once, on the first pass | fires on both passes (each real instant) |
/// | fall back, local time outside the overlap | fires at its local time | fires at each matching local time |
///
/// For example in `Europe/Berlin` on 2027-03-28 the clock jumps from 02:00 to
/// 03:00: `0 30 2 * * *` fires at 03:00 local (01:00 UTC), while
/// `0 */30 * * * *` fires at 01:30 and then 03:00. On 2027-10-31 the clock
/// goes from 03:00 back to 02:00: `0 30 2 * * *` fires at 02:30 CEST only,
/// while `0 */30 * * * *` fires at 02:00 and 02:30 of both passes.
#[derive(Clone)]
pub struct Schedule {
    source: String,
    tz: Option<Tz>,
    tz_from_spec: bool,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Cron(CronFields),
    Every { seconds: i64 },
}

impl Schedule {
    /// Parses and validates a spec.
    ///
    /// The error says which field is wrong, where, and the allowed range:
    ///
    /// ```
    /// let err = cronlock::Schedule::parse("0 0 25 * * *").unwrap_err();
    /// assert_eq!(err.to_string(), "hour 25 is out of range (0-23)");
    /// assert_eq!(err.caret(), "0 0 25 * * *\n    ^^");
    /// ```
    pub fn parse(spec: &str) -> Result<Schedule, SpecError> {
        let parsed = cronlock_spec::parse_spec(spec)?;
        let kind = match parsed.body {
            SpecBody::Cron(fields) => Kind::Cron(fields),
            SpecBody::Every(interval) => Kind::Every {
                seconds: i64::try_from(interval.as_secs()).unwrap_or(i64::MAX),
            },
        };
        Ok(Schedule {
            source: spec.trim().to_owned(),
            tz: parsed.tz,
            tz_from_spec: parsed.tz.is_some(),
            kind,
        })
    }

    /// Reads the spec in `tz` unless the spec names its own zone with `CRON_TZ=`.
    pub fn with_timezone(mut self, tz: Tz) -> Schedule {
        if !self.tz_from_spec {
            self.tz = Some(tz);
        }
        self
    }

    /// Reads the spec in `tz` only if nothing else chose a zone.
    pub fn with_default_timezone(mut self, tz: Tz) -> Schedule {
        self.tz.get_or_insert(tz);
        self
    }

    /// The spec as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The zone the spec is read in (UTC unless one was chosen).
    pub fn timezone(&self) -> Tz {
        self.tz.unwrap_or(Tz::UTC)
    }

    /// The spec in English (the zone is [`Schedule::timezone`]).
    ///
    /// ```
    /// let schedule = cronlock::Schedule::parse("0 30 2 * * MON-FRI")?;
    /// assert_eq!(
    ///     schedule.describe(),
    ///     "at second 0 of minute 30 of hour 2, on Monday-Friday, every month"
    /// );
    /// # Ok::<(), cronlock::SpecError>(())
    /// ```
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Cron(fields) => fields.describe(),
            Kind::Every { seconds } => format!(
                "every {}, counted from the Unix epoch",
                cronlock_spec::format_duration(std::time::Duration::from_secs(
                    u64::try_from(*seconds).unwrap_or(0)
                ))
            ),
        }
    }

    /// True when second, minute and hour each match one value (see the DST table above).
    pub fn is_fixed_time(&self) -> bool {
        match &self.kind {
            Kind::Cron(fields) => fields.is_fixed_time(),
            Kind::Every { .. } => false,
        }
    }

    /// The first fire instant at or after `from` (ticks are whole
    /// milliseconds at most), as a backfill's range starts.
    pub(crate) fn first_from(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match from.checked_sub_signed(chrono::Duration::milliseconds(1)) {
            Some(before) => self.next_after(before),
            None => self.next_after(from),
        }
    }

    /// The first fire instant strictly after `after`, or `None` past year 5000.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron(fields) => Engine::new(fields).next_after(after, self.timezone()),
            Kind::Every { seconds } => {
                let next = after
                    .timestamp()
                    .div_euclid(*seconds)
                    .checked_add(1)?
                    .checked_mul(*seconds)?;
                Utc.timestamp_opt(next, 0).single()
            }
        }
    }

    /// Fire instants strictly after `after`, in order.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// let schedule = cronlock::Schedule::parse("@every 90s")?;
    /// let start = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    /// let ticks: Vec<_> = schedule.upcoming(start).take(2).map(|t| t.to_rfc3339()).collect();
    /// assert_eq!(ticks, ["2027-01-01T00:01:30+00:00", "2027-01-01T00:03:00+00:00"]);
    /// # Ok::<(), cronlock::SpecError>(())
    /// ```
    pub fn upcoming(&self, after: DateTime<Utc>) -> Upcoming<'_> {
        Upcoming {
            schedule: self,
            cursor: after,
        }
    }

    /// Whether `instant`, read in the schedule's zone, matches the fields (ignores DST rules).
    #[cfg(test)]
    fn matches_wall_clock(&self, instant: DateTime<Utc>) -> bool {
        match &self.kind {
            Kind::Cron(_) => {
                self.matches_local(instant.with_timezone(&self.timezone()).naive_local())
            }
            Kind::Every { seconds } => instant.timestamp().rem_euclid(*seconds) == 0,
        }
    }

    /// Whether a wall-clock time matches the fields (`@every` matches none).
    #[cfg(test)]
    fn matches_local(&self, local: chrono::NaiveDateTime) -> bool {
        use chrono::{Datelike, Timelike};
        match &self.kind {
            Kind::Cron(fields) => fields.matches(
                local.second(),
                local.minute(),
                local.hour(),
                local.day(),
                local.month(),
                local.weekday().num_days_from_sunday(),
            ),
            Kind::Every { .. } => false,
        }
    }
}

impl FromStr for Schedule {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Schedule, SpecError> {
        Schedule::parse(spec)
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("spec", &self.source)
            .field("tz", &self.timezone().name())
            .finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Iterator over a schedule's fire instants, from [`Schedule::upcoming`].
#[derive(Debug, Clone)]
pub struct Upcoming<'a> {
    schedule: &'a Schedule,
    cursor: DateTime<Utc>,
}

impl Iterator for Upcoming<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let next = self.schedule.next_after(self.cursor)?;
        self.cursor = next;
        Some(next)
    }
}

mod engine;
#[cfg(test)]
mod tests;
