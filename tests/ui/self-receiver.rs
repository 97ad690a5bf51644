use cronlock::scheduled;

struct Service;

impl Service {
    #[scheduled(cron = "0 * * * * *", timeout = "1m")]
    async fn job(&self) {}
}

fn main() {}
