use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
fn every_minute() {}

fn main() {
    every_minute();
}
