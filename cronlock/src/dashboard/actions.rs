//! Pause, resume and trigger, for one job or several: a form `POST` that
//! must pass the CSRF and same-origin rules, is refused in read-only mode,
//! and is logged and written to each job's history with who did it.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tracing::{info, warn};

use super::Shared;
use super::security::{Identity, check_action};
use crate::lock::Pause;

/// The longest pause note kept, in characters.
const MAX_NOTE: usize = 500;

/// What a form asks for.
#[derive(Debug, Default)]
struct ActionForm {
    csrf: Option<String>,
    action: Option<String>,
    jobs: Vec<String>,
    note: Option<String>,
}

impl ActionForm {
    fn parse(body: &[u8]) -> ActionForm {
        let mut form = ActionForm::default();
        for (key, value) in form_urlencoded::parse(body) {
            match &*key {
                "csrf" => form.csrf = Some(value.into_owned()),
                "action" => form.action = Some(value.into_owned()),
                "job" => form.jobs.push(value.into_owned()),
                "note" => {
                    let note = value.trim();
                    if !note.is_empty() {
                        form.note = Some(note.chars().take(MAX_NOTE).collect());
                    }
                }
                _ => {}
            }
        }
        form
    }
}

/// Runs the action on every job named; answers with what happened (for the
/// page's script) or sends a browser without script back to the page.
pub(super) async fn act(
    State(dashboard): State<Shared>,
    Extension(Identity(by)): Extension<Identity>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = ActionForm::parse(&body);
    if dashboard.config.read_only {
        return answer(StatusCode::FORBIDDEN, "this dashboard is read-only");
    }
    if let Err(why) = check_action(&method, &headers, form.csrf.as_deref(), &dashboard.csrf) {
        warn!(target: "cronlock::dashboard", by = %by, "dashboard action refused: {why}");
        return answer(StatusCode::FORBIDDEN, why);
    }
    let Some(action) = form.action.as_deref() else {
        return answer(StatusCode::BAD_REQUEST, "no action given");
    };
    if form.jobs.is_empty() {
        return answer(StatusCode::BAD_REQUEST, "select at least one job");
    }
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for job in &form.jobs {
        let result = match action {
            "pause" => {
                let pause = Pause {
                    since: Utc::now(),
                    until: None,
                    note: form.note.clone(),
                    by: Some(by.clone()),
                };
                dashboard.fleet.pause(job, &pause).await.map(|()| "paused")
            }
            "resume" => dashboard
                .fleet
                .resume_by(job, Some(&by))
                .await
                .map(|()| "resumed"),
            "trigger" => dashboard.fleet.trigger(job, Some(&by)).await.map(|queued| {
                if queued {
                    "triggered"
                } else {
                    "already triggered"
                }
            }),
            _ => return answer(StatusCode::BAD_REQUEST, "unknown action"),
        };
        match result {
            Ok(what) => {
                info!(target: "cronlock::dashboard", job = ?job, action, by = %by, note = ?form.note, "dashboard action");
                done.push(format!("{what} {job}"));
            }
            Err(err) => {
                warn!(target: "cronlock::dashboard", job = ?job, action, by = %by, error = %err, "dashboard action failed");
                failed.push(format!("{job}: {err}"));
            }
        }
    }
    dashboard.forget_overview();
    if !wants_text(&headers) {
        let back = format!("{}/", dashboard.config.prefix);
        return (StatusCode::SEE_OTHER, [(LOCATION, back)]).into_response();
    }
    if failed.is_empty() {
        answer(StatusCode::OK, &done.join(", "))
    } else {
        let mut text = failed.join("; ");
        if !done.is_empty() {
            text = format!("{}; {text}", done.join(", "));
        }
        answer(StatusCode::CONFLICT, &text)
    }
}

/// The page's script asks for a short text answer; a plain form post gets
/// a redirect back.
fn wants_text(headers: &HeaderMap) -> bool {
    headers.contains_key("x-cronlock-fetch")
}

fn answer(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}
