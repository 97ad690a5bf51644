use cronlock::scheduled;

#[scheduled(cron = "0 0 22-2 * * *", timeout = "1m")]
async fn job() {}

fn main() {}
