//! The dashboard over HTTP: every route, auth, CSRF and same-origin,
//! read-only mode, escaping, no secrets in pages, actions logged and in the
//! history with who did them, a path prefix, and the fleet seen through a
//! real Redis.

use std::net::SocketAddr;
use std::time::Duration;

use cronlock::dashboard::{self, DashboardConfig};
use cronlock::lock::{MemoryLock, RedisLockConfig};
use cronlock::{Fleet, Job, JobContext, RunOutcome, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::http::{self, Response};
use cronlock_tests::logs::LogCapture;
use tokio::sync::oneshot;

/// An error text a job returns: it must render as text, never as markup.
const HOSTILE: &str = r#"<script>alert("pwned")</script> & <b>bold</b>"#;

/// A dashboard served on a free loopback port; stops on drop.
struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), cronlock::Error>>>,
}

impl Served {
    async fn start(fleet: Fleet, config: DashboardConfig) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dashboard::serve(listener, fleet, config, async move {
            let _ = stopped.await;
        }));
        Served {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let addr = self.addr;
        let (method, path, body) = (method.to_owned(), path.to_owned(), body.to_owned());
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            http::request(addr, &method, &path, &headers, &body)
        })
        .await
        .unwrap()
    }

    async fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], "").await
    }

    /// The CSRF token the first screen carries.
    async fn csrf(&self, headers: &[(&str, &str)], prefix: &str) -> String {
        let page = self
            .request("GET", &format!("{prefix}/"), headers, "")
            .await;
        let marker = r#"<meta name="csrf-token" content=""#;
        let start = page.body.find(marker).expect("a CSRF token in the page") + marker.len();
        page.body[start..start + page.body[start..].find('"').unwrap()].to_owned()
    }

    /// Posts an action as the page's script does, from the same origin.
    async fn act(&self, headers: &[(&str, &str)], form: &str) -> Response {
        let origin = format!("http://{}", self.addr);
        let mut all = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", origin.as_str()),
            ("x-cronlock-fetch", "1"),
        ];
        all.extend_from_slice(headers);
        self.request("POST", "/actions", &all, form).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// A scheduler on the in-process lock with three every-second jobs: one
/// that succeeds, one that fails with [`HOSTILE`], one disabled.
async fn scheduler() -> Scheduler {
    Scheduler::builder()
        .registered_jobs(false)
        .lock(MemoryLock::new())
        .job(Job::new(
            "report",
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx: JobContext| async { Ok::<(), String>(()) },
        ))
        .job(Job::new(
            "import",
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx: JobContext| async { Err::<(), String>(HOSTILE.to_owned()) },
        ))
        .job(
            Job::new(
                "archive",
                "0 0 3 * * *",
                Duration::from_secs(60),
                |_ctx: JobContext| async { Ok::<(), String>(()) },
            )
            .tz("Europe/Berlin".parse().unwrap())
            .enabled(false),
        )
        .build()
        .await
        .unwrap()
}

/// Runs `scheduler` in the background until both jobs have run at least once.
async fn running(scheduler: &Scheduler) -> tokio::task::JoinHandle<()> {
    running_until_runs_of(scheduler, &["report", "import"]).await
}

async fn running_until_a_run_of(scheduler: &Scheduler, job: &str) -> tokio::task::JoinHandle<()> {
    running_until_runs_of(scheduler, &[job]).await
}

/// Runs `scheduler` in the background until each of `jobs` has run.
async fn running_until_runs_of(
    scheduler: &Scheduler,
    jobs: &[&str],
) -> tokio::task::JoinHandle<()> {
    let background = scheduler.clone();
    let handle = tokio::spawn(async move {
        background.run_until(std::future::pending()).await.unwrap();
    });
    for _ in 0..100 {
        let ran = jobs.iter().all(|job| {
            scheduler
                .list_jobs()
                .iter()
                .any(|info| info.name == *job && info.last_run.is_some())
        });
        if ran {
            // The history is written right after the run ends.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return handle;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the jobs did not run within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_with_the_fleet_it_shows() {
    let scheduler = scheduler().await;
    let run = running(&scheduler).await;
    let served = Served::start(scheduler.fleet(), DashboardConfig::new()).await;

    let page = served.get("/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    for needle in [
        "runs ok",
        "runs failed",
        "ticks missed",
        "jobs paused",
        r#"href="/job?name=report""#,
        "badge active",
        "badge failing",
        "badge disabled",
        "at second 0 of minute 0 of hour 3",
        "(Europe/Berlin)",
        r#"<a class="outcome ok""#,
        r#"<a class="outcome failed""#,
        r#"name="action" value="pause""#,
        r#"data-select-all"#,
        r#"<script src="/assets/app.js" defer></script>"#,
    ] {
        assert!(
            page.body.contains(needle),
            "the first screen lacks {needle}:\n{}",
            page.body
        );
    }
    // The disabled job never runs: no next run, no trigger button.
    let archive = row(&page.body, "archive");
    assert!(
        archive.contains("never") && !archive.contains("value=\"trigger\""),
        "{archive}"
    );

    let fragment = served.get("/fragment/overview").await;
    assert_eq!(fragment.status, 200);
    assert!(fragment.body.contains(r#"data-job="report""#) && !fragment.body.contains("<html"));

    let job = served.get("/job?name=report").await;
    assert_eq!(job.status, 200);
    assert!(
        job.body.contains("<h1>report</h1>") && job.body.contains("<svg"),
        "{}",
        job.body
    );
    assert!(
        job.body.contains(r#"<span class="outcome ok">ok</span>"#),
        "{}",
        job.body
    );
    let job_fragment = served.get("/fragment/job?name=report").await;
    assert_eq!(job_fragment.status, 200);
    assert!(job_fragment.body.contains("<h1>report</h1>"));

    assert_eq!(served.get("/job?name=nope").await.status, 404);
    assert_eq!(served.get("/fragment/job?name=nope").await.status, 404);
    assert_eq!(served.get("/elsewhere").await.status, 404);
    assert_eq!(served.get("/actions").await.status, 405);

    let css = served.get("/assets/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let js = served.get("/assets/app.js").await;
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    // Self-contained: nothing is loaded from anywhere else.
    for body in [&page.body, &css.body, &js.body, &job.body] {
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{body}"
        );
    }
    println!(
        "page weight: first screen {} B of HTML, stylesheet {} B, script {} B",
        page.body.len(),
        css.body.len(),
        js.body.len()
    );
    // The budget the README states: small enough for a phone on a bad link.
    assert!(
        page.body.len() + css.body.len() + js.body.len() < 24_000,
        "the first screen grew past 24 KB"
    );
    served.stop().await;
    scheduler.shutdown();
    run.await.unwrap();
}

/// The row of `job` in a first screen.
fn row<'a>(body: &'a str, job: &str) -> &'a str {
    let start = body
        .find(&format!(r#"<tr data-job="{job}">"#))
        .unwrap_or_else(|| panic!("no row for {job}:\n{body}"));
    &body[start..start + body[start..].find("</tr>").unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_errors_render_as_text_never_as_markup() {
    let scheduler = scheduler().await;
    let run = running(&scheduler).await;
    let served = Served::start(scheduler.fleet(), DashboardConfig::new()).await;
    let page = served.get("/job?name=import").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(
            "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
        ),
        "the error text is not on the page, escaped:\n{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert") && !page.body.contains("<b>bold"));
    served.stop().await;
    scheduler.shutdown();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_names_and_notes_are_escaped_everywhere() {
    let name = r#"<img src=x onerror=alert(1)>"#;
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .lock(MemoryLock::new())
        .job(Job::new(
            name,
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx: JobContext| async { Ok::<(), String>(()) },
        ))
        .build()
        .await
        .unwrap();
    let run = running_until_a_run_of(&scheduler, name).await;
    let served = Served::start(scheduler.fleet(), DashboardConfig::new()).await;
    let csrf = served.csrf(&[], "").await;
    let form = format!(
        "csrf={csrf}&action=pause&job=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E&note=%3Cscript%3Ex%3C%2Fscript%3E"
    );
    let answer = served.act(&[], &form).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = served.get("/").await;
    assert!(
        !page.body.contains("<img") && !page.body.contains("<script>x"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("&lt;script&gt;x&lt;/script&gt;"),
        "the note: {}",
        page.body
    );
    let job = served
        .get("/job?name=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E")
        .await;
    assert_eq!(job.status, 200, "{}", job.body);
    assert!(!job.body.contains("<img"), "{}", job.body);
    // Its run, in the history table and the chart, and the note.
    assert!(
        job.body.contains(r#"<span class="outcome ok">ok</span>"#),
        "{}",
        job.body
    );
    assert!(
        job.body.contains("&lt;script&gt;x&lt;/script&gt;"),
        "the note: {}",
        job.body
    );
    assert!(!job.body.contains("<script>x"));
    served.stop().await;
    scheduler.shutdown();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_asked_of_every_route_when_set() {
    let scheduler = scheduler().await;
    let basic = Served::start(
        scheduler.fleet(),
        DashboardConfig::new().basic_auth("ops", "s3cret-pass"),
    )
    .await;
    for path in [
        "/",
        "/fragment/overview",
        "/job?name=report",
        "/assets/app.js",
        "/nope",
    ] {
        let refused = basic.get(path).await;
        assert_eq!(refused.status, 401, "{path}");
        assert!(
            refused
                .header("www-authenticate")
                .unwrap()
                .starts_with("Basic")
        );
    }
    // ops:wrong, then ops:s3cret-pass
    let wrong = basic
        .request("GET", "/", &[("Authorization", "Basic b3BzOndyb25n")], "")
        .await;
    assert_eq!(wrong.status, 401);
    let right = basic
        .request(
            "GET",
            "/",
            &[("Authorization", "Basic b3BzOnMzY3JldC1wYXNz")],
            "",
        )
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
    assert!(
        !right.body.contains("s3cret-pass"),
        "the password is on the page"
    );
    basic.stop().await;

    let bearer = Served::start(
        scheduler.fleet(),
        DashboardConfig::new().bearer_token("t0ken"),
    )
    .await;
    assert_eq!(bearer.get("/").await.status, 401);
    let wrong = bearer
        .request("GET", "/", &[("Authorization", "Bearer t0ke")], "")
        .await;
    assert_eq!(wrong.status, 401);
    let right = bearer
        .request("GET", "/", &[("Authorization", "Bearer t0ken")], "")
        .await;
    assert_eq!(right.status, 200);
    assert!(!right.body.contains("t0ken"), "the token is on the page");
    bearer.stop().await;
}

#[tokio::test]
async fn a_listener_beyond_loopback_needs_an_auth_setting() {
    let open = DashboardConfig::new();
    assert!(open.check_listen("127.0.0.1:9090".parse().unwrap()).is_ok());
    assert!(open.check_listen("[::1]:9090".parse().unwrap()).is_ok());
    for addr in ["0.0.0.0:9090", "10.1.2.3:80", "[::]:9090"] {
        let err = open.check_listen(addr.parse().unwrap()).unwrap_err();
        assert!(matches!(err, cronlock::Error::Dashboard(_)), "{err}");
        assert!(err.to_string().contains("without auth"), "{err}");
    }
    let guarded = DashboardConfig::new().bearer_token("t");
    assert!(
        guarded
            .check_listen("0.0.0.0:9090".parse().unwrap())
            .is_ok()
    );
    assert!(
        DashboardConfig::new()
            .basic_auth("a", "b")
            .check_listen("10.1.2.3:80".parse().unwrap())
            .is_ok()
    );
    // The secret never shows in the config's Debug output either.
    let debug = format!("{:?}", DashboardConfig::new().basic_auth("ops", "hunter2"));
    assert!(
        debug.contains("ops") && !debug.contains("hunter2"),
        "{debug}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_the_page_token_and_the_same_origin() {
    let scheduler = scheduler().await;
    let fleet = scheduler.fleet();
    let served = Served::start(fleet.clone(), DashboardConfig::new()).await;
    let csrf = served.csrf(&[], "").await;

    let no_token = served.act(&[], "action=pause&job=report").await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let wrong_token = served.act(&[], "csrf=0123&action=pause&job=report").await;
    assert_eq!(wrong_token.status, 403);
    let form = format!("csrf={csrf}&action=pause&job=report");
    let cross_site = served
        .request(
            "POST",
            "/actions",
            &[("Origin", "http://evil.example"), ("x-cronlock-fetch", "1")],
            &form,
        )
        .await;
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    let fetch_site = served
        .request(
            "POST",
            "/actions",
            &[("Sec-Fetch-Site", "cross-site")],
            &form,
        )
        .await;
    assert_eq!(fetch_site.status, 403);
    assert!(
        fleet.pauses().await.unwrap().is_empty(),
        "a refused action paused the job"
    );

    let allowed = served.act(&[], &form).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert!(fleet.pauses().await.unwrap().contains_key("report"));
    // A form posted without the script is sent back to the first screen.
    let plain = served
        .request(
            "POST",
            "/actions",
            &[("Origin", &format!("http://{}", served.addr))],
            &format!("csrf={csrf}&action=resume&job=report"),
        )
        .await;
    assert_eq!(plain.status, 303);
    assert_eq!(plain.header("location"), Some("/"));
    assert!(fleet.pauses().await.unwrap().is_empty());
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_hides_actions_and_refuses_them() {
    let scheduler = scheduler().await;
    let fleet = scheduler.fleet();
    let served = Served::start(fleet.clone(), DashboardConfig::new().read_only(true)).await;
    let page = served.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("read-only"));
    assert!(!page.body.contains(r#"name="action""#), "{}", page.body);
    let job = served.get("/job?name=report").await;
    assert!(!job.body.contains(r#"name="action""#), "{}", job.body);
    let csrf = served.csrf(&[], "").await;
    for action in ["pause", "resume", "trigger"] {
        let refused = served
            .act(&[], &format!("csrf={csrf}&action={action}&job=report"))
            .await;
        assert_eq!(refused.status, 403, "{action}: {}", refused.body);
    }
    assert!(fleet.pauses().await.unwrap().is_empty());
    served.stop().await;
}

/// Pause, resume and trigger from the dashboard as `ops`: each is logged
/// with who did it and shows in the job's history (the trigger's run says
/// who asked for it); a bulk action reaches every job selected.
#[tokio::test(flavor = "current_thread")]
async fn actions_are_logged_and_in_the_history_with_who_did_them() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let scheduler = scheduler().await;
    let fleet = scheduler.fleet();
    let run = running(&scheduler).await;
    let served = Served::start(
        fleet.clone(),
        DashboardConfig::new().basic_auth("ops", "s3cret-pass"),
    )
    .await;
    let auth = [("Authorization", "Basic b3BzOnMzY3JldC1wYXNz")];
    let csrf = served.csrf(&auth, "").await;

    let paused = served
        .act(
            &auth,
            &format!("csrf={csrf}&action=pause&job=report&job=import&note=deploy+in+progress"),
        )
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let pauses = fleet.pauses().await.unwrap();
    for job in ["report", "import"] {
        let pause = &pauses[job];
        assert_eq!(pause.by.as_deref(), Some("ops"));
        assert_eq!(pause.note.as_deref(), Some("deploy in progress"));
        let newest = &fleet.history(job).await.unwrap()[0];
        assert_eq!(
            newest.outcome,
            RunOutcome::Skipped {
                reason: "paused by ops: deploy in progress".to_owned()
            }
        );
    }
    capture.assert_logged(&["dashboard action", "report", "pause", "ops"]);
    let page = served.request("GET", "/", &auth, "").await;
    assert!(
        row(&page.body, "report").contains("badge paused"),
        "{}",
        page.body
    );
    assert!(row(&page.body, "report").contains("deploy in progress · by ops"));
    // The newest history entry is the pause; the last run shown is the run.
    assert!(
        row(&page.body, "import").contains(r#"<a class="outcome failed""#),
        "{}",
        page.body
    );

    let resumed = served
        .act(&auth, &format!("csrf={csrf}&action=resume&job=report"))
        .await;
    assert_eq!(resumed.status, 200);
    let newest = &fleet.history("report").await.unwrap()[0];
    assert_eq!(
        newest.outcome,
        RunOutcome::Skipped {
            reason: "resumed by ops".to_owned()
        }
    );
    capture.assert_logged(&["dashboard action", "report", "resume", "ops"]);
    // Pauses and resumes are history entries, not runs (the CLI's list too).
    let jobs = fleet.jobs().await.unwrap();
    let report = jobs
        .iter()
        .find(|job| job.summary.name == "report")
        .unwrap();
    assert_eq!(
        report.last_run.as_ref().map(|run| &run.outcome),
        Some(&RunOutcome::Completed)
    );

    // `import` is still paused; a trigger runs it once anyway.
    let triggered = served
        .act(&auth, &format!("csrf={csrf}&action=trigger&job=import"))
        .await;
    assert_eq!(triggered.status, 200, "{}", triggered.body);
    capture.assert_logged(&["dashboard action", "import", "trigger", "ops"]);
    let mut manual = None;
    for _ in 0..50 {
        manual = fleet
            .history("import")
            .await
            .unwrap()
            .into_iter()
            .find(|entry| entry.instance.ends_with("(triggered by ops)"));
        if manual.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let manual = manual.expect("the triggered run in the history, saying who asked for it");
    assert!(
        matches!(manual.outcome, RunOutcome::Failed { .. }),
        "{manual:?}"
    );
    served.stop().await;
    scheduler.shutdown();
    run.await.unwrap();
}

/// Mounted in a service's own router under a prefix: the pages, links and
/// actions live under it; the service's routes are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_mounted_under_a_prefix() {
    let scheduler = scheduler().await;
    let fleet = scheduler.fleet();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(dashboard::router(
            fleet.clone(),
            DashboardConfig::new().prefix("/cron"),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http::get(addr, path));
    assert_eq!(get("/health").await.unwrap().body, "ok");
    let page = get("/cron/").await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    for needle in [
        r#"href="/cron/job?name=report""#,
        r#"action="/cron/actions""#,
        r#"data-src="/cron/fragment/overview""#,
        r#"href="/cron/assets/app.css""#,
    ] {
        assert!(page.body.contains(needle), "{needle}:\n{}", page.body);
    }
    let bare = get("/cron").await.unwrap();
    assert_eq!(
        (bare.status, bare.header("location")),
        (308, Some("/cron/"))
    );
    assert_eq!(get("/cron/job?name=report").await.unwrap().status, 200);
    assert_eq!(get("/cron/assets/app.js").await.unwrap().status, 200);
    assert_eq!(get("/job?name=report").await.unwrap().status, 404);
    server.abort();
}

/// The whole fleet through Redis: jobs two instances published, and a page
/// that says the backend is down without showing its password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_on_redis_and_no_secret_when_it_is_down() {
    let mut redis = RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--requirepass",
        "hunter2-secret",
    ]);
    let url = format!("redis://:hunter2-secret@127.0.0.1:{}", redis.port());
    let mut schedulers = Vec::new();
    for (instance, job) in ["billing", "emails"].into_iter().enumerate() {
        let scheduler = Scheduler::builder()
            .registered_jobs(false)
            .redis_config(RedisLockConfig::new(&url).reply_timeout(Duration::from_millis(300)))
            .job(Job::new(
                job,
                "* * * * * *",
                Duration::from_secs(5),
                move |_ctx: JobContext| async move {
                    let _ = instance;
                    Ok::<(), String>(())
                },
            ))
            .build()
            .await
            .unwrap();
        schedulers.push(scheduler);
    }
    let running = cronlock_tests::fleet::start(&schedulers, Duration::from_secs(4));
    let fleet = Fleet::connect(&url, "cronlock:").await.unwrap();
    let served = Served::start(fleet, DashboardConfig::new()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let page = served.get("/").await;
    assert_eq!(page.status, 200);
    for job in ["billing", "emails"] {
        assert!(
            row(&page.body, job).contains(r#"class="outcome ok""#),
            "{job}:\n{}",
            page.body
        );
    }
    assert!(!page.body.contains("hunter2"), "{}", page.body);
    running.finish().await;

    redis.kill();
    let down = served.get("/").await;
    assert!(down.body.contains("did not answer"), "{}", down.body);
    assert!(
        !down.body.contains("hunter2"),
        "the password is on the page:\n{}",
        down.body
    );
    let job = served.get("/job?name=billing").await;
    assert_eq!(job.status, 503);
    assert!(!job.body.contains("hunter2"));
    served.stop().await;
}

/// Without auth, a request addressed to another host name is refused: a
/// page whose DNS name was rebound to 127.0.0.1 cannot read the dashboard
/// (and its CSRF token) or act through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_only_loopback_host_names_are_answered() {
    let scheduler = scheduler().await;
    let served = Served::start(scheduler.fleet(), DashboardConfig::new()).await;
    let port = served.addr.port().to_string();
    for host in [format!("evil.example:{port}"), "10.0.0.7".to_owned()] {
        let refused = served
            .request("GET", "/", &[("Host", host.as_str())], "")
            .await;
        assert_eq!(refused.status, 421, "{host}: {}", refused.body);
        assert!(!refused.body.contains("csrf"));
    }
    let local = format!("localhost:{port}");
    assert_eq!(
        served
            .request("GET", "/", &[("Host", local.as_str())], "")
            .await
            .status,
        200
    );
    served.stop().await;
    // Behind a proxy with its own auth, another name is expected.
    let proxied = Served::start(
        scheduler.fleet(),
        DashboardConfig::new().accept_any_host(true),
    )
    .await;
    let answer = proxied
        .request("GET", "/", &[("Host", "cron.internal.example")], "")
        .await;
    assert_eq!(answer.status, 200);
    proxied.stop().await;
    // An empty secret is no auth: a non-loopback address stays refused.
    assert!(
        DashboardConfig::new()
            .bearer_token("")
            .check_listen("10.0.0.7:80".parse().unwrap())
            .is_err()
    );
    assert!(
        DashboardConfig::new()
            .basic_auth("ops", "")
            .check_listen("10.0.0.7:80".parse().unwrap())
            .is_err()
    );
}

/// Mounted with auth: the dashboard's routes ask for it, the host
/// service's own routes and unknown paths stay the service's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mounted_router_guards_only_its_own_routes() {
    let scheduler = scheduler().await;
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(dashboard::router(
            scheduler.fleet(),
            DashboardConfig::new().prefix("/cron").bearer_token("t0ken"),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http::get(addr, path));
    assert_eq!(get("/health").await.unwrap().status, 200);
    let unknown = get("/elsewhere").await.unwrap();
    assert_eq!(unknown.status, 404);
    assert!(unknown.header("www-authenticate").is_none());
    assert_eq!(get("/cron/").await.unwrap().status, 401);
    assert_eq!(get("/cron/assets/app.js").await.unwrap().status, 401);
    let authed = tokio::task::spawn_blocking(move || {
        http::request(
            addr,
            "GET",
            "/cron/",
            &[("Authorization", "bearer t0ken")],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(authed.status, 200, "the scheme is case-insensitive");
    server.abort();
}
