use cronlock::scheduled;

#[scheduled()]
async fn job() {}

fn main() {}
