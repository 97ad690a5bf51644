//! Bad configuration stops the process at start with a clear message and a
//! non-zero exit code, never a panic.

use std::process::Command;

fn start(scenario: &str, redis_url: Option<&str>) -> (Option<i32>, String) {
    // `cronlock::run()` with REDIS_URL: the `service` binary, whose job needs no state.
    let binary = if scenario == "redis-url" {
        env!("CARGO_BIN_EXE_service")
    } else {
        env!("CARGO_BIN_EXE_bad_startup")
    };
    let mut command = Command::new(binary);
    command
        .arg(scenario)
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "off");
    if let Some(url) = redis_url {
        command.env("REDIS_URL", url);
    }
    let output = command.output().expect("bad_startup runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "{scenario} panicked:\n{stderr}"
    );
    (output.status.code(), stderr)
}

#[test]
fn a_bad_spec_override_shows_the_caret() {
    let (code, stderr) = start("override", None);
    assert_eq!(code, Some(1));
    assert!(
        stderr
            .contains("spec override for job `report` is invalid: hour 25 is out of range (0-23)"),
        "{stderr}"
    );
    assert!(stderr.contains("    0 0 25 * * *\n        ^^"), "{stderr}");
}

#[test]
fn a_missing_state_names_job_and_type() {
    let (code, stderr) = start("state", None);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("job `needs_state` needs State<bad_startup::Missing>"),
        "{stderr}"
    );
}

#[test]
fn duplicate_names_fail() {
    let (code, stderr) = start("duplicate", None);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("job name `twin` is used twice"), "{stderr}");
}

#[test]
fn a_bad_redis_url_fails_without_showing_the_password() {
    let (code, stderr) = start("redis-url", Some("redis://:topsecret@127.0.0.1:notaport"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("invalid Redis URL"), "{stderr}");
    assert!(!stderr.contains("topsecret"), "{stderr}");
}

/// A Redis that does not answer at start is an outage, not a bad
/// configuration: the process starts fail-closed, says so, and keeps
/// running (a crash loop during a deploy would be worse).
#[test]
fn redis_down_at_start_keeps_the_process_up_and_says_so() {
    let port = cronlock_tests::free_port().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_service"))
        .env("REDIS_URL", format!("redis://:topsecret@127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("service starts");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let running = child.try_wait().expect("status").is_none();
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(running, "the process exited:\n{log}");
    assert!(log.contains("Redis is not reachable at start"), "{log}");
    assert!(log.contains("connection refused"), "{log}");
    assert!(!log.contains("topsecret"), "{log}");
}

#[test]
fn the_builder_reads_redis_url_when_asked() {
    let (code, stderr) = start(
        "redis-from-env",
        Some("redis://:hunter2@127.0.0.1:notaport"),
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("invalid Redis URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
