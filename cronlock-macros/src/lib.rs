//! The `#[scheduled]` attribute of [cronlock](https://docs.rs/cronlock).
//!
//! Use it through `cronlock::scheduled`; the generated code refers to
//! `::cronlock::__private`, so this crate is not meant to be used alone.

mod attr;
mod errors;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Runs an async fn on a cron schedule, once per tick across the fleet.
///
/// ```ignore
/// use cronlock::{scheduled, JobContext, State};
///
/// #[scheduled(cron = "0 */5 * * * *", timeout = "2m")]
/// async fn refresh_cache(ctx: JobContext, db: State<Db>) -> anyhow::Result<()> {
///     db.refresh(ctx.tick()).await
/// }
/// ```
///
/// # Keys
///
/// | key | required | value | default |
/// |---|---|---|---|
/// | `cron` | yes | six-field spec, descriptor (`@hourly`, `@every 30s`) or `CRON_TZ=Zone ` prefix | |
/// | `timeout` | yes | duration: `"500ms"`, `"90s"`, `"2m"`, `"1h30m"`, `"1d"`; each run is cancelled after it | |
/// | `name` | no | job name, also the lock key | the fn name |
/// | `tz` | no | IANA zone the spec is read in, `"Asia/Shanghai"` | the scheduler's zone (UTC) |
/// | `lock_ttl` | no | duration, at least `timeout` | `timeout` |
/// | `overlap` | no | `"skip"` (never two runs at once, fleet-wide; a tick that finds a run is skipped), `"buffer_one"` (never two at once; such a tick waits and starts when the run ends, at most one waiting), `"replace"` (never two at once; such a tick cancels the run through `ctx.cancelled()` and starts when it has ended) or `"allow"` | `"skip"` |
/// | `retries` | no | 0-100 retries of a failed run, within the timeout | 0 |
/// | `backoff` | no | first wait between attempts, doubling (needs `retries`) | `"1s"` |
/// | `catch_up` | no | late ticks: `"latest"` runs the most recent missed tick if younger than the window, `"all"` runs each one younger than the window, oldest first, `"skip"` runs none | `"latest"` |
/// | `catch_up_window` | no | duration: how late a missed tick may still run; set, ticks missed while the whole fleet was down run too | `timeout` |
/// | `enabled` | no | `false` lists the job but never runs it | `true` |
/// | `jitter` | no | duration up to `"1d"`: each run starts this much at most after its tick, at an offset fixed by the job name (the same on every instance); the tick stays the scheduled instant | none |
/// | `history_len` | no | 1-1000 runs kept in the job's history, fleet-wide | the scheduler's, 20 |
/// | `pause_after_failures` | no | 1-1000: after that many consecutive failed runs the job pauses itself fleet-wide until resumed | never |
///
/// # Signatures
///
/// `async fn`, no generics or `self`; parameters are any number of
/// `State<T>` (values registered with `Scheduler::builder().state(..)`) and
/// at most one `JobContext`; the return type is `()` or `Result<(), E>` with
/// `E: Display` (`anyhow::Result<()>` works).
///
/// # Errors
///
/// Every mistake is a compile error on the offending token; all of an
/// attribute's mistakes are reported at once, and the fn itself is still
/// emitted so the rest of the crate compiles:
///
/// ```text
/// error: day-of-week 8 is out of range (0-7 or SUN-SAT, 0 and 7 are Sunday)
///
///          cron = "0 0 0 * * 8"
///                            ^
///  --> src/jobs.rs:3:20
///   |
/// 3 | #[scheduled(cron = "0 0 0 * * 8", timeout = "1m")]
///   |                    ^^^^^^^^^^^^^
/// ```
///
/// # Expansion
///
/// The fn is kept as written. Next to it, a `const` item holds a `bind` fn
/// and an `inventory` registration; nothing runs until the scheduler
/// starts. `bind` takes the fn's `State<T>` values from the scheduler once,
/// when it is built (a missing one is a startup error naming the job and
/// the type), and returns what starts each run. The keys given become
/// `const` setters on `JobOptions::DEFAULT`, so a key left out is the
/// runtime's default. For `#[scheduled(cron = "0 */5 * * * *", timeout =
/// "2m", retries = 3)] async fn refresh(ctx: JobContext)` (abridged; the
/// test `expansion_is_readable` checks the whole text):
///
/// ```ignore
/// async fn refresh(ctx: JobContext) {}
/// const _: () = {
///     fn __cronlock_bind(__cronlock_states: &::cronlock::__private::StateMap)
///         -> Result<::cronlock::__private::RunFn, ::cronlock::__private::StateRequirement> {
///         let __cronlock_arg0 = <JobContext as ::cronlock::__private::JobParam>::bind(__cronlock_states)?;
///         Ok(::cronlock::__private::run_fn(move |__cronlock_ctx| {
///             ::cronlock::__private::box_job(refresh(<JobContext as JobParam>::extract(&__cronlock_arg0, &__cronlock_ctx)))
///         }))
///     }
///     ::cronlock::__private::inventory::submit! {
///         ::cronlock::__private::Registration {
///             name: "refresh", spec: "0 */5 * * * *",
///             timeout: Duration::from_millis(120000u64),
///             options: ::cronlock::__private::JobOptions::DEFAULT .retries(3u32),
///             file: file!(), line: line!(), bind: __cronlock_bind,
///         }
///     }
/// };
/// ```
#[proc_macro_attribute]
pub fn scheduled(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::scheduled(args.into(), item.into()).into()
}
