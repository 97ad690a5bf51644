use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "0s")]
async fn job() {}

fn main() {}
