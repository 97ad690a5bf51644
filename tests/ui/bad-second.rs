use cronlock::scheduled;

#[scheduled(cron = "60 * * * * *", timeout = "1m")]
async fn job() {}

fn main() {}
