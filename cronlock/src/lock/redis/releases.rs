//! Releasing run locks: runs that end together share one script call (one
//! per hash slot on a Cluster).

use std::sync::Mutex;

use redis::RedisError;
use tokio::sync::oneshot;

use super::RedisLock;
use crate::lock::{Claim, LockError, LockErrorKind};

/// The most run locks released in one script call.
const MAX_RELEASE_BATCH: usize = 100;

/// Releases waiting to be sent. The first waiting caller sends batches
/// until the queue is empty.
#[derive(Default)]
pub(super) struct ReleaseQueue {
    waiting: Vec<PendingRelease>,
    sending: bool,
}

struct PendingRelease {
    key: String,
    token: String,
    answer: oneshot::Sender<Result<(), LockError>>,
}

/// Marks the queue as no longer being sent if the sending caller is
/// cancelled; the releases still waiting then fail (their locks expire with
/// their TTL) rather than wait for a sender that is gone.
struct SendingGuard<'a> {
    queue: &'a Mutex<ReleaseQueue>,
    finished: bool,
}

impl Drop for SendingGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.sending = false;
            queue.waiting.clear();
        }
    }
}

impl RedisLock {
    /// Queues the release of `claim`'s run lock and waits for its answer.
    pub(super) async fn release_queued(&self, claim: &Claim) -> Result<(), LockError> {
        let (answer, answered) = oneshot::channel();
        let send = {
            let mut queue = self.releases.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push(PendingRelease {
                key: self.key(&claim.job, "run"),
                token: claim.token.clone(),
                answer,
            });
            !std::mem::replace(&mut queue.sending, true)
        };
        if send {
            self.send_releases().await;
        }
        answered.await.unwrap_or_else(|_| {
            Err(LockError::new(
                LockErrorKind::Unavailable,
                "could not release the run lock: the release was dropped",
                None,
            ))
        })
    }

    /// Sends the waiting releases, a batch per script call, until none wait.
    async fn send_releases(&self) {
        let mut guard = SendingGuard {
            queue: &self.releases,
            finished: false,
        };
        loop {
            let batch: Vec<_> = {
                let mut queue = self.releases.lock().unwrap_or_else(|p| p.into_inner());
                let count = queue.waiting.len().min(MAX_RELEASE_BATCH);
                if count == 0 {
                    // Under the same lock as the check, so a release queued
                    // after it sends itself.
                    queue.sending = false;
                    guard.finished = true;
                    break;
                }
                queue.waiting.drain(..count).collect()
            };
            let groups = self.by_slot(batch.iter().map(|release| release.key.clone()));
            let calls = groups.iter().map(|indexes| {
                let batch = &batch;
                async move {
                    let keys: Vec<&str> = indexes.iter().map(|&i| batch[i].key.as_str()).collect();
                    let mut call = self.release.call(&keys);
                    for &i in indexes {
                        call.arg(&batch[i].token);
                    }
                    let result: Result<Vec<i64>, RedisError> =
                        self.eval(&self.release, &call).await;
                    result.map_err(|err| self.error(&err, "could not release the run lock"))
                }
            });
            let results = futures_util::future::join_all(calls).await;
            let mut answers: Vec<Option<Result<(), LockError>>> =
                batch.iter().map(|_| None).collect();
            for (indexes, result) in groups.iter().zip(results) {
                for &i in indexes {
                    answers[i] = Some(match &result {
                        Ok(_) => Ok(()),
                        Err(err) => Err(LockError::new(err.kind(), err.to_string(), None)),
                    });
                }
            }
            for (release, answer) in batch.into_iter().zip(answers) {
                let _ = release.answer.send(answer.unwrap_or(Ok(())));
            }
        }
    }
}
