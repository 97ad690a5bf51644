//! The `#[scheduled]` attribute of [cronlock](https://docs.rs/cronlock).
//!
//! Use it through `cronlock::scheduled`; this crate's items are re-exported there.

mod attr;
mod errors;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Marks an async fn as a job that runs on a cron schedule, once per tick across the fleet.
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
/// See the `cronlock` crate's documentation for every key, its default and
/// the errors the attribute reports.
#[proc_macro_attribute]
pub fn scheduled(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::scheduled(args.into(), item.into()).into()
}
