use cronlock::scheduled;

#[scheduled(cron = "@every 500ms", timeout = "1m")]
async fn job() {}

fn main() {}
