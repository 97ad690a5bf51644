use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timout = "1m")]
async fn job() {}

fn main() {}
