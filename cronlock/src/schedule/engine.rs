//! Fire times straight from the field bit sets: the next matching wall-clock
//! time, then the daylight-saving rules of the table on [`Schedule`].
//!
//! Each step jumps to the next set bit of a field instead of walking time,
//! so a search costs a few dozen operations whatever the spec (Feb 29 skips
//! non-leap years a month at a time), and a DST gap or overlap costs one
//! binary search for the transition instant.
//!
//! [`Schedule`]: super::Schedule

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use cronlock_spec::{CronFields, Field};

/// No fire time is searched past this year (as documented on `next_after`).
const LAST_YEAR: i32 = 5000;

/// The bit sets of one spec, ready for searching.
#[derive(Debug, Clone, Copy)]
pub(super) struct Engine {
    second: u64,
    minute: u64,
    hour: u64,
    day: u64,
    month: u64,
    weekday: u64,
    days_either: bool,
    fixed_time: bool,
}

/// The lowest set bit of `bits` at or above `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let masked = bits & (u64::MAX << from);
    (masked != 0).then(|| masked.trailing_zeros())
}

fn month_after(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

impl Engine {
    pub(super) fn new(fields: &CronFields) -> Engine {
        Engine {
            second: fields.bits(Field::Second),
            minute: fields.bits(Field::Minute),
            hour: fields.bits(Field::Hour),
            day: fields.bits(Field::DayOfMonth),
            month: fields.bits(Field::Month),
            weekday: fields.bits(Field::DayOfWeek),
            days_either: fields.days_either(),
            fixed_time: fields.is_fixed_time(),
        }
    }

    /// The first day of `year`-`month` from `day` on that matches, if any.
    fn next_day(&self, year: i32, month: u32, day: u32) -> Option<u32> {
        let last = days_in_month(year, month);
        let mut weekday = NaiveDate::from_ymd_opt(year, month, day)?
            .weekday()
            .num_days_from_sunday();
        for candidate in day..=last {
            let by_date = self.day & (1 << candidate) != 0;
            let by_weekday = self.weekday & (1 << weekday) != 0;
            let matches = if self.days_either {
                by_date || by_weekday
            } else {
                by_date && by_weekday
            };
            if matches {
                return Some(candidate);
            }
            weekday = (weekday + 1) % 7;
        }
        None
    }

    /// The first matching wall-clock time strictly after `after`.
    pub(super) fn next_local(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let start = after.with_nanosecond(0)? + TimeDelta::seconds(1);
        let (mut year, mut month, mut day) = (start.year(), start.month(), start.day());
        let (mut hour, mut minute, mut second) = (start.hour(), start.minute(), start.second());
        loop {
            if year > LAST_YEAR {
                return None;
            }
            match next_bit(self.month, month) {
                None => {
                    (year, month, day, hour, minute, second) = (year + 1, 1, 1, 0, 0, 0);
                    continue;
                }
                Some(found) if found != month => {
                    (month, day, hour, minute, second) = (found, 1, 0, 0, 0);
                }
                Some(_) => {}
            }
            match self.next_day(year, month, day) {
                None => {
                    (day, hour, minute, second) = (1, 0, 0, 0);
                    (year, month) = month_after(year, month);
                    continue;
                }
                Some(found) if found != day => (day, hour, minute, second) = (found, 0, 0, 0),
                Some(_) => {}
            }
            match next_bit(self.hour, hour) {
                // Past the last hour: the day search above moves to the next day.
                None if day < days_in_month(year, month) => {
                    (day, hour, minute, second) = (day + 1, 0, 0, 0);
                    continue;
                }
                None => {
                    (day, hour, minute, second) = (1, 0, 0, 0);
                    (year, month) = month_after(year, month);
                    continue;
                }
                Some(found) if found != hour => (hour, minute, second) = (found, 0, 0),
                Some(_) => {}
            }
            match next_bit(self.minute, minute) {
                None => {
                    (hour, minute, second) = (hour + 1, 0, 0);
                    continue;
                }
                Some(found) if found != minute => (minute, second) = (found, 0),
                Some(_) => {}
            }
            match next_bit(self.second, second) {
                None => {
                    (minute, second) = (minute + 1, 0);
                    continue;
                }
                Some(found) => second = found,
            }
            return NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second);
        }
    }

    /// The first fire instant strictly after `after`, with the DST rules.
    pub(super) fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local_after = after.with_timezone(&tz).naive_local();
        // An interval spec fires on both passes of a fall-back overlap: from
        // inside the first pass, the second pass's first match comes before
        // any later wall-clock time.
        let second_pass = if self.fixed_time {
            None
        } else {
            match tz.from_local_datetime(&local_after) {
                LocalResult::Ambiguous(_, second) if second.with_timezone(&Utc) > after => {
                    self.first_of_second_pass(after, second.with_timezone(&Utc), tz)
                }
                _ => None,
            }
        };
        let mut cursor = local_after;
        loop {
            let candidate = self.next_local(cursor)?;
            cursor = candidate;
            let instant = match tz.from_local_datetime(&candidate) {
                LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, second) => {
                    let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
                    if first > after {
                        Some(first)
                    } else if !self.fixed_time && second > after {
                        Some(second)
                    } else {
                        // A fixed-time spec fires on the first pass only.
                        None
                    }
                }
                // A fixed-time spec whose time is skipped fires when the gap
                // ends; an interval spec skips the times that do not exist.
                LocalResult::None if self.fixed_time => transition_near(candidate, tz),
                LocalResult::None => None,
            };
            if let Some(instant) = instant.filter(|instant| *instant > after) {
                return Some(second_pass.map_or(instant, |second| second.min(instant)));
            }
        }
    }

    /// From `after` inside the first pass of an overlap whose second pass
    /// reaches `after`'s wall-clock time at `second`: the first match of the
    /// second pass, if the spec has one before `second`.
    fn first_of_second_pass(
        &self,
        after: DateTime<Utc>,
        second: DateTime<Utc>,
        tz: Tz,
    ) -> Option<DateTime<Utc>> {
        let transition = first_with_offset_of(after, second, tz)?;
        let pass_start = transition.with_timezone(&tz).naive_local();
        let candidate = self.next_local(pass_start - TimeDelta::seconds(1))?;
        match tz.from_local_datetime(&candidate) {
            LocalResult::Ambiguous(_, later) => Some(later.with_timezone(&Utc)),
            _ => None,
        }
    }
}

fn offset_seconds(timestamp: i64, tz: Tz) -> Option<i32> {
    let instant = DateTime::from_timestamp(timestamp, 0)?;
    Some(
        tz.offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// The first whole second in `(low, high]` whose offset is `high`'s: the
/// transition between them (one per DST change, so bisection finds it).
fn first_with_offset_of(low: DateTime<Utc>, high: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    // Zones change offset on whole seconds.
    let (mut low, mut high) = (low.timestamp(), high.timestamp());
    let target = offset_seconds(high, tz)?;
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if offset_seconds(middle, tz)? == target {
            high = middle;
        } else {
            low = middle;
        }
    }
    DateTime::from_timestamp(high, 0)
}

/// The instant a spring-forward gap containing the wall-clock time `skipped` ends.
fn transition_near(skipped: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    // Read with the offset before the gap, the skipped time lands after the
    // transition; read with the offset after it, before. Those are the
    // offsets a day either side (zones do not change twice in a day).
    let skipped_as_utc = skipped.and_utc().timestamp();
    let before = offset_seconds(skipped_as_utc - 86_400, tz)?;
    let after = offset_seconds(skipped_as_utc + 86_400, tz)?;
    let late = DateTime::from_timestamp(skipped_as_utc - i64::from(before), 0)?;
    let early = DateTime::from_timestamp(skipped_as_utc - i64::from(after) - 1, 0)?;
    if early >= late {
        return None;
    }
    first_with_offset_of(early, late, tz)
}
