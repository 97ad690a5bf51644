use cronlock::scheduled;

#[scheduled(cron = "0 0 25 * * *", timeout = "5x", overlap = "sometimes")]
async fn job() {}

fn main() {}
