//! Prints the next five fire times of a spec.
//!
//! ```text
//! cargo run --example next_fires
//! cargo run --example next_fires -- "CRON_TZ=Europe/Berlin 0 30 2 * * *"
//! ```

use std::process::ExitCode;

use cronlock::Schedule;

fn main() -> ExitCode {
    let spec = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0 */5 * * * *".to_owned());
    let schedule = match Schedule::parse(&spec) {
        Ok(schedule) => schedule,
        Err(err) => {
            eprintln!("error: {}", err.report());
            return ExitCode::FAILURE;
        }
    };
    println!("{spec} ({}), next five fire times:", schedule.timezone());
    for instant in schedule.upcoming(chrono::Utc::now()).take(5) {
        println!(
            "  {} ({})",
            instant.with_timezone(&schedule.timezone()),
            instant
        );
    }
    ExitCode::SUCCESS
}
