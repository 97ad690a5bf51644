use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "2m", lock_ttl = "30s")]
async fn job() {}

fn main() {}
