use cronlock::scheduled;

use cronlock::JobContext;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job(a: JobContext, b: JobContext) {
    let _ = (a, b);
}

fn main() {}
