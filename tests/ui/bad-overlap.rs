use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", overlap = "never")]
async fn job() {}

fn main() {}
