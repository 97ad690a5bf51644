use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", cron = "0 0 * * * *")]
async fn job() {}

fn main() {}
