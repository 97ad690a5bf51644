use cronlock::scheduled;

#[scheduled(cron = "CRON_TZ=Europe/Berlin 0 0 2 * * *", timeout = "1m", tz = "Asia/Tokyo")]
async fn job() {}

fn main() {}
