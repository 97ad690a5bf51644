//! `cronlock::run()` in a real process: SIGTERM shuts down gracefully with
//! exit code 0; a second signal exits at once with 130.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn start(job_ms: u64) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_service"))
        .env("SERVICE_JOB_MS", job_ms.to_string())
        .env("RUST_LOG", "info")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("service starts");
    let stdout = child.stdout.take().expect("piped");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!(
        "no line with {needle:?} within 20 s; saw:\n{}",
        seen.join("\n")
    );
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("service did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let (mut child, lines) = start(0);
    let mut seen = Vec::new();
    wait_for(&lines, "run completed", &mut seen);
    signal(&child, "TERM");
    wait_for(&lines, "scheduler stopped", &mut seen);
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
    assert!(
        seen.iter()
            .any(|l| l.contains("shutdown requested") && l.contains("signal=\"SIGTERM\"")),
        "{}",
        seen.join("\n")
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    // Each run takes 60 s and ignores cancellation; the grace period is 30 s.
    let (mut child, lines) = start(60_000);
    let mut seen = Vec::new();
    wait_for(&lines, "run started", &mut seen);
    signal(&child, "INT");
    wait_for(&lines, "waiting for running jobs", &mut seen);
    let second = Instant::now();
    signal(&child, "INT");
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "took {:?} to exit",
        second.elapsed()
    );
}
