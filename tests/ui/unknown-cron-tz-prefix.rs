use cronlock::scheduled;

#[scheduled(cron = "CRON_TZ=Europe/Berln 0 0 2 * * *", timeout = "1m")]
async fn job() {}

fn main() {}
