use cronlock::scheduled;

#[derive(Debug)]
struct NotDisplay;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job() -> Result<(), NotDisplay> {
    Err(NotDisplay)
}

fn main() {}
