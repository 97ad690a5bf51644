use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", catch_up = "skip", catch_up_window = "1h")]
async fn job() {}

fn main() {}
