use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job() -> Result<u32, String> {
    Ok(1)
}

fn main() {}
