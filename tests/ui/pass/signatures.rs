use cronlock::{scheduled, JobContext, State};

struct Db;
struct Cache;

#[scheduled(cron = "0 */5 * * * *", timeout = "2m")]
async fn no_parameters() {}

#[scheduled(cron = "@hourly", timeout = "90s")]
async fn context_only(ctx: JobContext) {
    let _ = ctx.tick();
}

#[scheduled(cron = "0 0 2 * * *", timeout = "1h30m")]
async fn states(db: State<Db>, cache: cronlock::State<Cache>, ctx: JobContext) -> anyhow::Result<()> {
    let (_, _, _) = (db, cache, ctx);
    Ok(())
}

#[scheduled(cron = "*/10 * * * * *", timeout = "500ms")]
async fn unit_result() -> () {}

#[scheduled(cron = "0 0 * * * *", timeout = "1m", jitter = "30s", overlap = "replace")]
async fn string_error() -> Result<(), String> {
    Err("nope".into())
}

#[scheduled(
    cron = "0 0 * * * *",
    timeout = "1m",
    name = "io-job",
    catch_up = "all",
    overlap = "buffer_one",
    catch_up_window = "1h"
)]
async fn io_error() -> std::io::Result<()> {
    Ok(())
}

#[scheduled(
    cron = "0 0 * * * *",
    timeout = "1m",
    name = "boxed",
    history_len = 50,
    pause_after_failures = 5
)]
async fn boxed_error() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[scheduled(
    cron = "0 30 2 * * MON-FRI",
    timeout = "10m",
    name = "all-keys",
    tz = "Asia/Shanghai",
    lock_ttl = "15m",
    overlap = "allow",
    retries = 3,
    backoff = "10s",
    catch_up = "skip",
    enabled = false,
)]
async fn all_keys(_ctx: JobContext) {}

#[scheduled(cron = "CRON_TZ=Europe/Berlin 0 0 9 * * *", timeout = "1m", tz = "Europe/Berlin")]
async fn matching_zone_and_prefix() {}

fn main() {
    // The fns stay callable as ordinary fns.
    let _ = no_parameters();
}
