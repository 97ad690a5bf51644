//! The chaos suite in its short mode: five processes, one Redis, every kind
//! of fault, and no violation of the guarantee (about two and a half minutes).

use std::time::Duration;

use cronlock_tests::chaos::{Config, run};

fn phase(persistence: bool) {
    let dir = std::env::temp_dir().join(format!(
        "cronlock-chaos-test-{}-{persistence}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        service: env!("CARGO_BIN_EXE_chaos_service").into(),
        dir: dir.clone(),
        duration: Duration::from_secs(55),
        fault_every: Duration::from_secs(8),
        persistence,
    };
    let report = run(&config);
    println!("{}", report.summary(&config));
    assert_eq!(
        report.faults.len(),
        4,
        "every kind of fault was injected: {:?}",
        report.faults
    );
    assert!(report.ticks_checked > 100, "{report:?}");
    assert!(
        report.violations.is_empty(),
        "{}\nledgers in {}",
        report.summary(&config),
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One test, so the two phases run one after the other, not side by side.
#[test]
fn short_chaos_with_and_without_redis_persistence() {
    phase(true);
    phase(false);
}
