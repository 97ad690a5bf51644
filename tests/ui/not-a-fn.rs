use cronlock::scheduled;

#[scheduled(cron = "0 * * * * *", timeout = "1m")]
struct Job;

fn main() {}
