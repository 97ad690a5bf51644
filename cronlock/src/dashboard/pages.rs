//! The pages: the first screen (tiles and the job table) and a job's page
//! (its runs and a chart of their durations). Each page is a frame around
//! a fragment the page's script fetches again every few seconds.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::Shared;
use super::html::{absolute, duration, escape, job_path, relative};
use super::stats::{LastHour, last_hour};
use crate::error::Error;
use crate::fleet::{FleetJob, schedule_of};
use crate::lock::HistoryEntry;

const STYLESHEET: &str = include_str!("app.css");
const SCRIPT: &str = include_str!("app.js");

/// The most runs the chart on a job's page shows.
const CHART_RUNS: usize = 60;

pub(super) async fn overview(State(dashboard): State<Shared>) -> Response {
    let body = overview_body(&dashboard).await;
    let src = format!("{}/fragment/overview", dashboard.config.prefix);
    page(&dashboard, "cronlock", &src, &body)
}

pub(super) async fn overview_fragment(State(dashboard): State<Shared>) -> Response {
    fragment(overview_body(&dashboard).await)
}

/// The job a `?name=` query names (a query, not a path segment: a job
/// named `..` would be a dot segment a browser resolves away).
fn job_named(uri: &Uri) -> String {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "name")
        .map(|(_, name)| name.into_owned())
        .unwrap_or_default()
}

pub(super) async fn job(State(dashboard): State<Shared>, uri: Uri) -> Response {
    let job = job_named(&uri);
    let (status, body) = job_body(&dashboard, &job).await;
    let src = job_path(&format!("{}/fragment", dashboard.config.prefix), &job);
    let mut response = page(&dashboard, &format!("{job} · cronlock"), &src, &body);
    *response.status_mut() = status;
    response
}

pub(super) async fn job_fragment(State(dashboard): State<Shared>, uri: Uri) -> Response {
    let job = job_named(&uri);
    let (status, body) = job_body(&dashboard, &job).await;
    let mut response = fragment(body);
    *response.status_mut() = status;
    response
}

pub(super) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "max-age=300")],
        body,
    )
        .into_response()
}

fn fragment(body: String) -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The frame of every page: the stylesheet, the script, the CSRF token, and
/// the element the script refreshes from `src`.
fn page(dashboard: &Shared, title: &str, src: &str, body: &str) -> Response {
    let prefix = escape(&dashboard.config.prefix);
    let mode = if dashboard.config.read_only {
        r#"<span class="mode">read-only</span>"#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}">
<title>{title}</title>
<link rel="stylesheet" href="{prefix}/assets/app.css">
<script src="{prefix}/assets/app.js" defer></script>
</head>
<body>
<header><a class="home" href="{prefix}/">cronlock</a> {mode}<span id="live-state" class="live" role="status" aria-live="polite"></span></header>
<p id="status" class="status" role="status" aria-live="polite"></p>
<main id="live" data-src="{src}" data-refresh="{refresh}">
{body}
</main>
</body>
</html>
"#,
        csrf = escape(&dashboard.csrf),
        title = escape(title),
        src = escape(src),
        refresh = dashboard.config.refresh.as_millis(),
    );
    fragment(html)
}

/// Tiles and the job table: rendered at most once per [`OVERVIEW_FRESH`]
/// however many pages poll it (and again after an action).
async fn overview_body(dashboard: &Shared) -> String {
    if let Some(body) = dashboard.cached_overview(OVERVIEW_FRESH) {
        return body;
    }
    let body = render_overview(dashboard).await;
    dashboard.cache_overview(&body);
    body
}

/// How long a rendered first screen is served again.
const OVERVIEW_FRESH: std::time::Duration = std::time::Duration::from_millis(900);

/// How many histories are read at once.
const HISTORY_READS: usize = 16;

async fn render_overview(dashboard: &Shared) -> String {
    use futures_util::StreamExt as _;
    let jobs = match dashboard.fleet.jobs().await {
        Ok(jobs) => jobs,
        Err(err) => return unavailable(&err),
    };
    let names: Vec<String> = jobs.iter().map(|job| job.summary.name.clone()).collect();
    let histories: Vec<Vec<HistoryEntry>> = futures_util::stream::iter(names)
        .map(|name| {
            let fleet = dashboard.fleet.clone();
            async move { fleet.history_of(&name).await.unwrap_or_default() }
        })
        .buffered(HISTORY_READS)
        .collect()
        .await;
    let now = Utc::now();
    let mut hour = LastHour::default();
    let mut rows = String::new();
    for (job, history) in jobs.iter().zip(&histories) {
        hour += last_hour(job, history, now);
        job_row(&mut rows, dashboard, job, now);
    }
    let paused = jobs.iter().filter(|job| job.pause.is_some()).count();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<section class="tiles" aria-label="the last hour">
<div class="tile ok"><span class="n">{ok}</span> runs ok <span class="sub">last hour</span></div>
<div class="tile failed"><span class="n">{failed}</span> runs failed <span class="sub">last hour</span></div>
<div class="tile missed"><span class="n">{missed}</span> ticks missed <span class="sub">last hour</span></div>
<div class="tile paused"><span class="n">{paused}</span> jobs paused <span class="sub">now</span></div>
</section>
"#,
        ok = hour.ok,
        failed = hour.failed,
        missed = hour.missed,
    );
    if jobs.is_empty() {
        out.push_str(r#"<p class="empty">No jobs yet: no instance has published any.</p>"#);
        return out;
    }
    let actions = !dashboard.config.read_only;
    if actions {
        let _ = write!(
            out,
            r#"<form id="bulk" class="bulk" method="post" action="{action}" data-action>
<input type="hidden" name="csrf" value="{csrf}">
<span>Selected jobs:</span>
<input type="text" name="note" placeholder="note for a pause" aria-label="note for pausing the selected jobs" autocomplete="off">
<button name="action" value="pause">Pause</button>
<button name="action" value="resume">Resume</button>
<button name="action" value="trigger">Trigger now</button>
</form>
"#,
            action = escape(&format!("{}/actions", dashboard.config.prefix)),
            csrf = escape(&dashboard.csrf),
        );
    }
    let select = if actions {
        r#"<th><input type="checkbox" data-select-all aria-label="select every job"></th>"#
    } else {
        ""
    };
    let action_head = if actions { "<th>Actions</th>" } else { "" };
    let _ = write!(
        out,
        r#"<div class="scroll"><table class="jobs">
<thead><tr>{select}<th>Status</th><th>Job</th><th>Schedule</th><th>Next run</th><th>Last run</th>{action_head}</tr></thead>
<tbody>
{rows}</tbody>
</table></div>
"#
    );
    out
}

/// A job's status: disabled, paused (with its note), failing (its last
/// run failed), active.
fn badge(job: &FleetJob) -> String {
    if !job.summary.enabled {
        return r#"<span class="badge disabled">disabled</span>"#.to_owned();
    }
    if let Some(pause) = &job.pause {
        let mut detail = String::new();
        if let Some(note) = &pause.note {
            detail.push_str(note);
        }
        if let Some(by) = &pause.by {
            if !detail.is_empty() {
                detail.push_str(" · ");
            }
            detail.push_str("by ");
            detail.push_str(by);
        }
        if let Some(until) = pause.until {
            detail.push_str(&format!(" · until {}", absolute(until, &job.summary.tz)));
        }
        return format!(
            r#"<span class="badge paused">paused</span><div class="note">{}</div>"#,
            escape(&detail)
        );
    }
    if job
        .last_run
        .as_ref()
        .is_some_and(|run| run.outcome.is_failure())
    {
        return r#"<span class="badge failing">failing</span>"#.to_owned();
    }
    r#"<span class="badge active">active</span>"#.to_owned()
}

fn job_row(out: &mut String, dashboard: &Shared, job: &FleetJob, now: DateTime<Utc>) {
    let summary = &job.summary;
    let name = escape(&summary.name);
    let link = escape(&job_path(&dashboard.config.prefix, &summary.name));
    let _ = write!(out, r#"<tr data-job="{name}">"#);
    if !dashboard.config.read_only {
        let _ = write!(
            out,
            r#"<td><input type="checkbox" name="job" value="{name}" form="bulk" aria-label="select {name}"></td>"#
        );
    }
    let _ = write!(
        out,
        r#"<td class="status">{badge}</td><td><a class="job" href="{link}">{name}</a><div class="sub">{service}</div></td><td>{schedule}</td><td>{next}</td><td class="last"{tick}>{last}</td>"#,
        badge = badge(job),
        service = escape(&summary.service),
        schedule = schedule_cell(job),
        next = next_cell(job, now),
        last = last_run_cell(job.last_run.as_ref(), &link, &summary.tz, now),
        tick = job.last_run.as_ref().map_or(String::new(), |run| format!(
            r#" data-tick="{}""#,
            run.tick
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )),
    );
    if !dashboard.config.read_only {
        let _ = write!(out, "<td>{}</td>", action_form(dashboard, job));
    }
    out.push_str("</tr>\n");
}

fn schedule_cell(job: &FleetJob) -> String {
    let summary = &job.summary;
    let words = schedule_of(summary).map_or_else(
        || "not a spec this version reads".to_owned(),
        |schedule| schedule.describe(),
    );
    format!(
        r#"<code>{}</code><div class="sub">{} ({})</div>"#,
        escape(&summary.spec),
        escape(&words),
        escape(&summary.tz)
    )
}

fn next_cell(job: &FleetJob, now: DateTime<Utc>) -> String {
    if job.pause.is_some() {
        return r#"<span class="sub">none while paused</span>"#.to_owned();
    }
    match job.next {
        Some(next) if job.summary.enabled => format!(
            r#"<time datetime="{}">{}</time><div class="sub">{}</div>"#,
            next.to_rfc3339(),
            relative(next, now),
            escape(&absolute(next, &job.summary.tz))
        ),
        _ => r#"<span class="sub">never</span>"#.to_owned(),
    }
}

fn last_run_cell(run: Option<&HistoryEntry>, link: &str, tz: &str, now: DateTime<Utc>) -> String {
    let Some(run) = run else {
        return r#"<span class="sub">no run yet</span>"#.to_owned();
    };
    let label = run.outcome.label();
    format!(
        r#"<a class="outcome {label}" href="{link}">{label}</a> {took} <div class="sub">{ago} · {at} · {instance}</div>"#,
        took = duration(run.duration),
        ago = relative(run.started, now),
        at = escape(&absolute(run.started, tz)),
        instance = escape(&run.instance),
    )
}

/// Trigger, and pause (with a note) or resume, for one job.
fn action_form(dashboard: &Shared, job: &FleetJob) -> String {
    let name = escape(&job.summary.name);
    let mut form = format!(
        r#"<form class="actions" method="post" action="{action}" data-action><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="job" value="{name}">"#,
        action = escape(&format!("{}/actions", dashboard.config.prefix)),
        csrf = escape(&dashboard.csrf),
    );
    // Pause (or resume) comes first: Enter in the note field presses the
    // form's first button.
    if job.pause.is_some() {
        let _ = write!(
            form,
            r#"<button name="action" value="resume" aria-label="resume {name}">Resume</button>"#
        );
    } else {
        let _ = write!(
            form,
            r#"<input type="text" name="note" placeholder="note" aria-label="note for pausing {name}" autocomplete="off"><button name="action" value="pause" aria-label="pause {name}">Pause</button>"#
        );
    }
    if job.summary.enabled {
        let _ = write!(
            form,
            r#"<button name="action" value="trigger" aria-label="trigger {name} now">Trigger</button>"#
        );
    }
    form.push_str("</form>");
    form
}

/// A job's page: its row, the chart and the history.
async fn job_body(dashboard: &Shared, name: &str) -> (StatusCode, String) {
    let jobs = match dashboard.fleet.jobs().await {
        Ok(jobs) => jobs,
        Err(err) => return (StatusCode::SERVICE_UNAVAILABLE, unavailable(&err)),
    };
    let Some(job) = jobs.iter().find(|job| job.summary.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                r#"<p class="empty">There is no job named <code>{}</code>.</p>"#,
                escape(name)
            ),
        );
    };
    let history = match dashboard.fleet.history_of(name).await {
        Ok(history) => history,
        Err(err) => return (StatusCode::SERVICE_UNAVAILABLE, unavailable(&err)),
    };
    let now = Utc::now();
    let hour = last_hour(job, &history, now);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<h1>{name}</h1>
<section class="tiles" aria-label="the last hour">
<div class="tile ok"><span class="n">{ok}</span> runs ok <span class="sub">last hour</span></div>
<div class="tile failed"><span class="n">{failed}</span> runs failed <span class="sub">last hour</span></div>
<div class="tile missed"><span class="n">{missed}</span> ticks missed <span class="sub">last hour</span></div>
</section>
<dl class="facts"><dt>Status</dt><dd class="status">{badge}</dd><dt>Schedule</dt><dd>{schedule}</dd><dt>Next run</dt><dd>{next}</dd><dt>Timeout</dt><dd>{timeout}</dd><dt>Service</dt><dd>{service}</dd></dl>
"#,
        name = escape(name),
        ok = hour.ok,
        failed = hour.failed,
        missed = hour.missed,
        badge = badge(job),
        schedule = schedule_cell(job),
        next = next_cell(job, now),
        timeout = duration(job.summary.timeout),
        service = escape(&job.summary.service),
    );
    if !dashboard.config.read_only {
        out.push_str(&action_form(dashboard, job));
    }
    out.push_str(&chart(&history));
    out.push_str(
        r#"<div class="scroll"><table class="history"><thead><tr><th>Tick</th><th>Started</th><th>Instance</th><th>Duration</th><th>Outcome</th><th>Error</th></tr></thead><tbody>
"#,
    );
    for run in &history {
        let label = run.outcome.label();
        let _ = writeln!(
            out,
            r#"<tr><td>{tick}</td><td>{started}</td><td>{instance}</td><td>{took}</td><td><span class="outcome {label}">{label}</span></td><td class="error">{message}</td></tr>"#,
            tick = escape(&absolute(run.tick, &job.summary.tz)),
            started = relative(run.started, now),
            instance = escape(&run.instance),
            took = duration(run.duration),
            message = escape(run.outcome.message().unwrap_or_default()),
        );
    }
    if history.is_empty() {
        out.push_str(r#"<tr><td colspan="6" class="empty">No runs yet.</td></tr>"#);
    }
    out.push_str("</tbody></table></div>\n");
    (StatusCode::OK, out)
}

/// Bars of the newest runs' durations, oldest on the left, coloured by
/// outcome; each bar's title says which run it is.
fn chart(history: &[HistoryEntry]) -> String {
    let runs: Vec<&HistoryEntry> = history.iter().take(CHART_RUNS).rev().collect();
    if runs.is_empty() {
        return String::new();
    }
    let longest = runs
        .iter()
        .map(|run| run.duration.as_secs_f64())
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let (width, height) = (600.0, 120.0);
    let step = width / CHART_RUNS as f64;
    let mut svg = format!(
        r#"<figure class="chart"><svg viewBox="0 0 {width} {height}" role="img" aria-label="durations of the last {n} runs, longest {longest}">"#,
        n = runs.len(),
        longest = escape(&duration(std::time::Duration::from_secs_f64(longest))),
    );
    for (i, run) in runs.iter().enumerate() {
        let bar = (run.duration.as_secs_f64() / longest * (height - 4.0)).max(2.0);
        let _ = write!(
            svg,
            r#"<rect class="bar {label}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bar:.1}"><title>{tick}: {label}, {took}</title></rect>"#,
            label = run.outcome.label(),
            x = i as f64 * step + 1.0,
            y = height - bar,
            w = (step - 2.0).max(1.0),
            tick = escape(&run.tick.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()),
            took = escape(&duration(run.duration)),
        );
    }
    svg.push_str(
        "</svg><figcaption>Duration of the newest runs (oldest left)</figcaption></figure>\n",
    );
    svg
}

/// The backend did not answer: said on the page, without secrets (lock
/// errors never carry a password).
fn unavailable(err: &Error) -> String {
    format!(
        r#"<p class="error-banner" role="alert">The fleet's backend did not answer: {}</p>"#,
        escape(&err.to_string())
    )
}
