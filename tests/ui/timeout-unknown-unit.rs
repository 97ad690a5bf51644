use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "2min")]
async fn job() {}

fn main() {}
