use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job() -> u32 {
    1
}

fn main() {}
