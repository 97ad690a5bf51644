use cronlock::scheduled;

#[scheduled(cron = "0 0 1- * * *", timeout = "1m")]
async fn job() {}

fn main() {}
