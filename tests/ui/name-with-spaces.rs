use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", name = "refresh cache")]
async fn job() {}

fn main() {}
