//! Specs in plain English, for `cronlock next` and error hints.

use crate::error::Field;
use crate::fields::{CronFields, MONTH_LONG};

impl CronFields {
    /// The spec in plain English, such as "at second 0 of minute 0, 15, 30
    /// and 45 of hours 9-17, on Monday-Friday".
    ///
    /// ```
    /// # use cronlock_spec::{parse_spec, SpecBody};
    /// let SpecBody::Cron(fields) = parse_spec("0 */15 9-17 * * MON-FRI").unwrap().body else { unreachable!() };
    /// assert_eq!(fields.describe(), "at second 0 of minutes 0, 15, 30 and 45 of hours 9-17, on Monday-Friday, every month");
    /// ```
    pub fn describe(&self) -> String {
        const DAYS: [&str; 7] = [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ];
        let full = |field: Field| {
            self.values(field).count() == usize::from(field.wildcard_max() - field.min()) + 1
        };
        let list = |field: Field, name: &dyn Fn(u8) -> String| {
            join_and(&ranges(&self.values(field).collect::<Vec<_>>(), name))
        };
        let number = |v: u8| v.to_string();
        let time = |field: Field, singular: &str, plural: &str| {
            if full(field) {
                format!("every {singular}")
            } else {
                let count = self.values(field).count();
                format!(
                    "{} {}",
                    if count == 1 { singular } else { plural },
                    list(field, &number)
                )
            }
        };
        let second = time(Field::Second, "second", "seconds");
        let minute = time(Field::Minute, "minute", "minutes");
        let hour = time(Field::Hour, "hour", "hours");
        let clock = match (
            second.starts_with("every"),
            minute.starts_with("every"),
            hour.starts_with("every"),
        ) {
            (true, true, true) => "every second".to_owned(),
            (true, true, false) => format!("every second of {hour}"),
            (true, false, true) => format!("every second of {minute} of every hour"),
            _ => format!("at {second} of {minute} of {hour}"),
        };
        let day_names = |v: u8| DAYS[usize::from(v)].to_owned();
        let dom = format!("day-of-month {}", list(Field::DayOfMonth, &number));
        let dow = list(Field::DayOfWeek, &day_names);
        let days = match (self.star_dom, self.star_dow) {
            (true, true) => "every day".to_owned(),
            (false, true) => format!("on {dom}"),
            (true, false) => format!("on {dow}"),
            (false, false) => format!("on {dom} or on {dow}"),
        };
        let months = if full(Field::Month) {
            "every month".to_owned()
        } else {
            format!(
                "in {}",
                list(Field::Month, &|v: u8| MONTH_LONG[usize::from(v - 1)]
                    .to_owned())
            )
        };
        format!("{clock}, {days}, {months}")
    }
}

/// Consecutive runs of three or more values as `a-b`, named by `name`.
fn ranges(values: &[u8], name: &dyn Fn(u8) -> String) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            out.push(format!("{}-{}", name(values[i]), name(values[j])));
        } else {
            out.extend(values[i..=j].iter().map(|v| name(*v)));
        }
        i = j + 1;
    }
    out
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
