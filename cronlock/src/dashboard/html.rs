//! Text into HTML: escaping, and the small formats every page uses
//! (durations, instants relative to now, job names in URLs).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// `text` safe inside an element or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The URL of a job's page under `base`, the name in the query.
pub(super) fn job_path(base: &str, job: &str) -> String {
    let name: String = form_urlencoded::byte_serialize(job.as_bytes()).collect();
    format!("{base}/job?name={name}")
}

/// `12 ms`, `1.4 s`, `3 min 5 s`.
pub(super) fn duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1_000 {
        format!("{millis} ms")
    } else if millis < 10_000 {
        format!("{:.1} s", duration.as_secs_f64())
    } else {
        cronlock_spec::format_duration(Duration::from_secs(duration.as_secs()))
    }
}

/// `in 3 s`, `5 min ago`, relative to `now`.
pub(super) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = at - now;
    let seconds = delta.num_seconds().unsigned_abs();
    let amount = if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3_600 {
        format!("{} min", seconds / 60)
    } else if seconds < 172_800 {
        format!("{} h", seconds / 3_600)
    } else {
        format!("{} days", seconds / 86_400)
    };
    if delta.num_milliseconds() >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// An instant in the job's zone, to the second, with the zone's name.
pub(super) fn absolute(at: DateTime<Utc>, tz: &str) -> String {
    match tz.parse::<chrono_tz::Tz>() {
        Ok(zone) => at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }

    #[test]
    fn job_names_go_in_the_query() {
        assert_eq!(job_path("/cron", "a/b c&d"), "/cron/job?name=a%2Fb+c%26d");
        assert_eq!(job_path("", "<x>"), "/job?name=%3Cx%3E");
        assert_eq!(job_path("", "send_reports-2"), "/job?name=send_reports-2");
        assert_eq!(job_path("", ".."), "/job?name=..");
    }

    #[test]
    fn relative_instants_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative(now + chrono::Duration::seconds(3), now), "in 3 s");
        assert_eq!(
            relative(now - chrono::Duration::seconds(300), now),
            "5 min ago"
        );
        assert_eq!(relative(now + chrono::Duration::hours(5), now), "in 5 h");
    }
}
