//! The chaos suite in its short mode: seven processes of two services with
//! mixed settings, one Redis behind a fault proxy, every kind of fault, and
//! no violation of the guarantee (about four minutes).

use std::time::Duration;

use cronlock_tests::chaos::{Config, FaultKind, Topology, run};

fn phase(persistence: bool, duration: Duration, kinds: &[FaultKind]) {
    let dir = std::env::temp_dir().join(format!(
        "cronlock-chaos-test-{}-{persistence}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        service: env!("CARGO_BIN_EXE_chaos_service").into(),
        dir: dir.clone(),
        duration,
        fault_every: Duration::from_secs(5),
        persistence,
        kinds: kinds.to_vec(),
        deployment: Topology::Single,
        durable: false,
    };
    let report = run(&config);
    println!("{}", report.summary(&config));
    assert_eq!(
        report.faults.len(),
        kinds.len(),
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
    phase(true, Duration::from_secs(130), &FaultKind::ALL);
    phase(false, Duration::from_secs(55), &FaultKind::PERSISTENCE);
}
