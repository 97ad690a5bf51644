use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", backoff = "10s")]
async fn job() {}

fn main() {}
