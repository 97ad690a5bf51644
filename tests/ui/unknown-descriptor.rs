use cronlock::scheduled;

#[scheduled(cron = "@fortnightly", timeout = "1m")]
async fn job() {}

fn main() {}
