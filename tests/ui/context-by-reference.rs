use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job(ctx: &cronlock::JobContext) {
    let _ = ctx;
}

fn main() {}
