use cronlock::scheduled;

#[scheduled(cron = "0 0 * * * *", timeout = "1m", history_len = 0)]
async fn empty_history() {}

#[scheduled(cron = "0 0 * * * *", timeout = "1m", history_len = 5000)]
async fn too_long() {}

fn main() {}
