use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "90")]
async fn job() {}

fn main() {}
