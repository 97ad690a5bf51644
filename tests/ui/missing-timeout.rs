use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *")]
async fn job() {}

fn main() {}
