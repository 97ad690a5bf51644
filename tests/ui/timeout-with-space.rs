use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "2 minutes")]
async fn job() {}

fn main() {}
