use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", catch_up = "all")]
async fn job() {}

fn main() {}
