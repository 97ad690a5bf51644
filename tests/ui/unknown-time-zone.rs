use cronlock::scheduled;

#[scheduled(cron = "0 0 2 * * *", timeout = "1m", tz = "Asia/Shangai")]
async fn job() {}

fn main() {}
