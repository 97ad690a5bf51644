use cronlock::scheduled;

#[scheduled(cron = 5, timeout = "1m")]
async fn job() {}

fn main() {}
