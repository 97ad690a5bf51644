use cronlock::scheduled;

#[scheduled(cron = "0 0 * * * *", timeout = "1m", pause_after_failures = 0)]
async fn never_zero() {}

#[scheduled(cron = "0 0 * * * *", timeout = "1m", pause_after_failures = "5")]
async fn not_a_string() {}

fn main() {}
