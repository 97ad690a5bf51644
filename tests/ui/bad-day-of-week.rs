use cronlock::scheduled;

#[scheduled(cron = "0 0 0 * * 8", timeout = "1m")]
async fn nightly() {}

fn main() {}
