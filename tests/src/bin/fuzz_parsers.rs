//! Feeds random inputs to the spec, duration and zone parsers:
//! `cargo run --release -p cronlock-tests --bin fuzz_parsers -- [CASES] [SEED]`
//! (default 10,000,000 cases). Exits 1 with the failing input on a panic, a
//! span outside its input, or a validated spec the engine refuses.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x00C0_FFEE);
    let started = Instant::now();
    // Panics are caught and reported as failures; keep the default hook quiet.
    std::panic::set_hook(Box::new(|_| {}));
    match cronlock_tests::fuzz::run(seed, cases) {
        Ok(tally) => {
            println!(
                "{} cases (seed {seed}) in {:.1} s: {} valid specs, no panic, every span inside its input, every valid spec accepted by the engine",
                tally.cases,
                started.elapsed().as_secs_f64(),
                tally.valid_specs
            );
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("failure: {failure}");
            ExitCode::FAILURE
        }
    }
}
