use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", enabled = "false")]
async fn job() {}

fn main() {}
