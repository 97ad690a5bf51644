use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", retries = "3")]
async fn job() {}

fn main() {}
