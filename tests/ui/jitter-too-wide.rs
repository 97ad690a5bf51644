use cronlock::scheduled;

#[scheduled(cron = "0 0 * * * *", timeout = "1m", jitter = "2d")]
async fn job() {}

fn main() {}
