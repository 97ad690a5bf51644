use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job() -> impl std::fmt::Debug {
    1
}

fn main() {}
