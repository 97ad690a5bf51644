use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", jitter = "30")]
async fn no_unit() {}

#[scheduled(cron = "0 * * * * *", timeout = "1m", jitter = 30)]
async fn not_a_string() {}

fn main() {}
