use cronlock::scheduled;

#[scheduled(cron = "0 0 0 31 4 *", timeout = "1m")]
async fn job() {}

fn main() {}
