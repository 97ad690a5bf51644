//! A web dashboard for a fleet: its jobs at a glance, each job's runs, and
//! pause, resume and trigger, per job or in bulk. One implementation, two
//! ways to serve it: [`router`] gives an axum `Router` a service mounts into
//! its own HTTP server; [`serve`] runs it on a listener (the
//! `cronlock dashboard` command does).
//!
//! Everything it needs is in the binary (no CDN, no external fonts or
//! scripts). The page refreshes itself every two seconds.
//!
//! Safe by default:
//! - [`serve`] refuses a listener that is not on a loopback address unless an
//!   auth setting is given ([`DashboardConfig::bearer_token`] or
//!   [`DashboardConfig::basic_auth`]).
//! - Actions are `POST`s that must carry the page's CSRF token and, when the
//!   browser says where they come from, come from the same origin.
//! - [`DashboardConfig::read_only`] hides the actions and refuses them.
//! - Every job name, note and error text is escaped, and a strict content
//!   security policy allows no inline script, so a job error containing
//!   `<script>` renders as text.
//! - Every action is logged with who did it and lands in the job's history.
//!
//! ```no_run
//! # async fn example() -> Result<(), cronlock::Error> {
//! use cronlock::dashboard::{self, DashboardConfig};
//!
//! let scheduler = cronlock::Scheduler::builder().build().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9090")
//!     .await
//!     .expect("a free port");
//! // The dashboard stops when the scheduler has (Ctrl-C or SIGTERM).
//! let (stopped, stop) = tokio::sync::oneshot::channel::<()>();
//! let served = tokio::spawn(dashboard::serve(
//!     listener,
//!     scheduler.fleet(),
//!     DashboardConfig::new(),
//!     async move {
//!         let _ = stop.await;
//!     },
//! ));
//! let ran = scheduler.run().await;
//! let _ = stopped.send(());
//! served.await.expect("the dashboard task")?;
//! ran
//! # }
//! ```

mod actions;
mod html;
mod pages;
mod security;
mod stats;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

use crate::error::Error;
use crate::fleet::Fleet;

/// How the dashboard is served: path prefix, auth, read-only.
///
/// ```
/// use cronlock::dashboard::DashboardConfig;
///
/// let config = DashboardConfig::new()
///     .prefix("/cron")
///     .basic_auth("ops", "correct horse battery staple")
///     .read_only(true);
/// assert_eq!(config.path_prefix(), "/cron");
/// ```
#[derive(Clone)]
pub struct DashboardConfig {
    prefix: String,
    read_only: bool,
    auth: Option<Auth>,
    any_host: bool,
    refresh: Duration,
}

/// Who may see the dashboard.
#[derive(Clone)]
enum Auth {
    /// `Authorization: Bearer <token>` (for a proxy or a script).
    Bearer(String),
    /// `Authorization: Basic …` (what a browser asks for).
    Basic { user: String, password: String },
}

impl fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never shows, only which kind of auth is set.
        let auth = match &self.auth {
            None => "none".to_owned(),
            Some(Auth::Bearer(_)) => "bearer token".to_owned(),
            Some(Auth::Basic { user, .. }) => format!("basic auth as {user}"),
        };
        f.debug_struct("DashboardConfig")
            .field("prefix", &self.prefix)
            .field("read_only", &self.read_only)
            .field("auth", &auth)
            .field("any_host", &self.any_host)
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig::new()
    }
}

impl DashboardConfig {
    /// Served at the root, no auth (loopback only), actions allowed, the
    /// page refreshing every two seconds.
    pub fn new() -> DashboardConfig {
        DashboardConfig {
            prefix: String::new(),
            read_only: false,
            auth: None,
            any_host: false,
            refresh: Duration::from_secs(2),
        }
    }

    /// Serves the pages under `prefix` (`"/cron"`: the first screen is
    /// `/cron/`), for a router that has other routes. Only letters, digits
    /// and `/-_.~` are kept (a prefix is a plain path, never a pattern).
    pub fn prefix(mut self, prefix: &str) -> DashboardConfig {
        let kept: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(*c))
            .collect();
        let segments: Vec<&str> = kept.split('/').filter(|part| !part.is_empty()).collect();
        self.prefix = segments.iter().map(|part| format!("/{part}")).collect();
        self
    }

    /// The path prefix the pages are served under (`""`: the root).
    pub fn path_prefix(&self) -> &str {
        &self.prefix
    }

    /// Hides pause, resume and trigger, and refuses them.
    pub fn read_only(mut self, read_only: bool) -> DashboardConfig {
        self.read_only = read_only;
        self
    }

    /// Asks every request for `Authorization: Bearer <token>` (for a proxy
    /// that adds it, or a script). Actions are logged as by `bearer token`.
    /// An empty token is no auth setting.
    pub fn bearer_token(mut self, token: impl Into<String>) -> DashboardConfig {
        let token = token.into();
        self.auth = (!token.is_empty()).then_some(Auth::Bearer(token));
        self
    }

    /// Asks every request for HTTP basic auth with this user and password
    /// (a browser prompts for them). Actions are logged as by `user`. An
    /// empty user or password is no auth setting.
    pub fn basic_auth(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> DashboardConfig {
        let (user, password) = (user.into(), password.into());
        self.auth =
            (!user.is_empty() && !password.is_empty()).then_some(Auth::Basic { user, password });
        self
    }

    /// Without auth, the dashboard answers only requests addressed to a
    /// loopback host (`localhost`, `127.0.0.1`, `[::1]`), so a web page that
    /// points a DNS name of its own at 127.0.0.1 cannot read or use it (DNS
    /// rebinding). A service that serves it under another name behind its
    /// own auth (a proxy) turns that off here.
    pub fn accept_any_host(mut self, accept: bool) -> DashboardConfig {
        self.any_host = accept;
        self
    }

    /// How often the open page refreshes itself (default two seconds).
    pub fn refresh_every(mut self, every: Duration) -> DashboardConfig {
        self.refresh = every.max(Duration::from_millis(250));
        self
    }

    /// Whether the dashboard may listen on `addr`: loopback always; any
    /// other address only with an auth setting.
    ///
    /// # Errors
    ///
    /// [`Error::Dashboard`] for a non-loopback address without auth.
    pub fn check_listen(&self, addr: SocketAddr) -> Result<(), Error> {
        if addr.ip().is_loopback() || self.auth.is_some() {
            return Ok(());
        }
        Err(Error::Dashboard(format!(
            "refusing to listen on {addr} without auth: anyone who reaches it could pause and trigger jobs; set a bearer token or basic auth, or listen on 127.0.0.1"
        )))
    }
}

/// What every handler shares.
struct Dashboard {
    fleet: Fleet,
    config: DashboardConfig,
    /// The token every action must carry: random per dashboard, sent in
    /// its pages only (another site cannot read them).
    csrf: String,
    /// The first screen as last rendered, and when.
    overview: std::sync::Mutex<Option<(std::time::Instant, String)>>,
}

impl Dashboard {
    fn overview_slot(&self) -> std::sync::MutexGuard<'_, Option<(std::time::Instant, String)>> {
        self.overview.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first screen rendered less than `fresh` ago, if there is one.
    fn cached_overview(&self, fresh: Duration) -> Option<String> {
        self.overview_slot()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < fresh)
            .map(|(_, body)| body.clone())
    }

    fn cache_overview(&self, body: &str) {
        *self.overview_slot() = Some((std::time::Instant::now(), body.to_owned()));
    }

    /// After an action: the next page shows its effect.
    fn forget_overview(&self) {
        *self.overview_slot() = None;
    }
}

type Shared = Arc<Dashboard>;

/// The dashboard's routes for `fleet`, under the configured prefix: mount
/// it into a service's own router with `merge`.
///
/// Auth and the same-origin rule apply to every route of it. A service
/// that serves it beyond loopback should set an auth setting (or put its
/// own auth in front): [`serve`] insists, a mounted router cannot know
/// where it is listening.
///
/// ```
/// let fleet = cronlock::Fleet::from_lock(cronlock::lock::MemoryLock::new());
/// let config = cronlock::dashboard::DashboardConfig::new().prefix("/cron");
/// let app: axum::Router = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .merge(cronlock::dashboard::router(fleet, config));
/// # drop(app);
/// ```
pub fn router(fleet: Fleet, config: DashboardConfig) -> Router {
    routes(fleet, config, false)
}

/// The routes under the prefix, behind the guard; `everything` also
/// answers paths that are none of them (when the dashboard is the whole
/// server), so that answer needs auth too.
fn routes(fleet: Fleet, config: DashboardConfig, everything: bool) -> Router {
    let prefix = config.prefix.clone();
    let shared: Shared = Arc::new(Dashboard {
        fleet,
        config,
        csrf: crate::lock::random_token(),
        overview: std::sync::Mutex::new(None),
    });
    let at = |path: &str| format!("{prefix}{path}");
    let mut routes = Router::new()
        .route(&at("/"), get(pages::overview))
        .route(&at("/fragment/overview"), get(pages::overview_fragment))
        .route(&at("/job"), get(pages::job))
        .route(&at("/fragment/job"), get(pages::job_fragment))
        .route(&at("/actions"), post(actions::act))
        .route(&at("/assets/app.css"), get(pages::stylesheet))
        .route(&at("/assets/app.js"), get(pages::script));
    if !prefix.is_empty() {
        let home = at("/");
        routes = routes.route(
            &prefix,
            get(move || async move { axum::response::Redirect::permanent(&home) }),
        );
    }
    let guard = axum::middleware::from_fn_with_state(Arc::clone(&shared), security::guard);
    if everything {
        // The whole server: unknown paths answer behind the guard too.
        routes
            .fallback(pages::not_found)
            .layer(guard)
            .with_state(shared)
    } else {
        // Mounted: the host service's own routes and 404s stay its own.
        routes.route_layer(guard).with_state(shared)
    }
}

/// Serves the dashboard of `fleet` on `listener` until `shutdown` resolves.
///
/// # Errors
///
/// [`Error::Dashboard`] when the listener is not on a loopback address and
/// no auth setting is given, or the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    fleet: Fleet,
    config: DashboardConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener
        .local_addr()
        .map_err(|err| Error::Dashboard(format!("the listener has no address: {err}")))?;
    config.check_listen(addr)?;
    let prefix = config.prefix.clone();
    tracing::info!(address = %addr, "dashboard at http://{addr}{prefix}/");
    axum::serve(
        listener,
        routes(fleet, config, true).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|err| Error::Dashboard(format!("the server failed: {err}")))
}
