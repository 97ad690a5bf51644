use cronlock::scheduled;

#[scheduled(timeout = "1m")]
async fn job() {}

fn main() {}
