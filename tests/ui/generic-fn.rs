use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
async fn job<T: Default>() {
    let _ = T::default();
}

fn main() {}
