use cronlock::scheduled;

#[scheduled(cron = "", timeout = "1m")]
async fn job() {}

fn main() {}
