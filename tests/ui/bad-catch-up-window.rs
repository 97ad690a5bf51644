use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m", catch_up_window = "0s")]
async fn zero_window() {}

#[scheduled(cron = "0 * * * * *", timeout = "1m", catch_up_window = "an hour")]
async fn words() {}

#[scheduled(cron = "0 * * * * *", timeout = "1m", catch_up_window = 3600)]
async fn not_a_string() {}

fn main() {}
