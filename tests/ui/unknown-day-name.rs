use cronlock::scheduled;

#[scheduled(cron = "0 0 0 * * FUNDAY", timeout = "1m")]
async fn job() {}

fn main() {}
