use cronlock::scheduled;

#[scheduled(cron = "*/5 * * * *", timeout = "1m")]
async fn every_five_minutes() {}

fn main() {}
