use cronlock::scheduled;

#[scheduled(cron = "0 0 12 * * ? 2027", timeout = "1m")]
async fn job() {}

fn main() {}
