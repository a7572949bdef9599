//! Group commit: many callers' writes of one kind made in one transaction. On SQLite every
//! statement is a hop to the database's thread and back, and every commit invalidates the
//! readers' page caches; a burst that writes once per transfer spends its time there, not
//! in work. A [`GroupCommit`] takes every request waiting at that moment (up to
//! [`Batched::MAX_BATCH`]) and writes them together with a few multi-row statements.
//!
//! A batch that fails is written again one request at a time, so that one request's
//! error (its item deleted meanwhile, say) is that request's alone, as it would have been
//! alone.
//!
//! Reads many callers make at once are batched the same way (`Batched` work that only
//! reads): on PostgreSQL each statement is a round trip to the server, and a burst's
//! transfers each reading their own rows kept it waiting more than their writes did. On
//! PostgreSQL two batches of one kind run at once ([`Backend::writers_at_once`]).
//!
//! [`Backend::writers_at_once`]: crate::store::Backend::writers_at_once

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::EngineError;
use crate::store::Db;

/// One kind of database work that can be done for many requests at once.
pub trait Batched: Send + Sync + 'static {
    type Request: Send + Sync + 'static;
    type Answer: Send + 'static;
    /// Most requests done together.
    const MAX_BATCH: usize;

    /// Does `requests` together, answering each in order; all or none of them.
    fn execute(
        &self,
        db: &Db,
        requests: &[Self::Request],
    ) -> impl Future<Output = Result<Vec<Self::Answer>, EngineError>> + Send;
}

type Reply<W> = oneshot::Sender<Result<<W as Batched>::Answer, EngineError>>;

/// The handle requests are made through; its task ends when the handle is dropped.
#[derive(Debug)]
pub struct GroupCommit<W: Batched> {
    queue: mpsc::UnboundedSender<(W::Request, Reply<W>)>,
}

impl<W: Batched> GroupCommit<W> {
    /// Starts doing `writer`'s work on `db` (the queue is unbounded: its callers bound the
    /// requests in flight, and each waits for its answer).
    pub fn start(db: Db, writer: W) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(run(db, writer, waiting));
        Self { queue }
    }

    /// Writes `request` with whatever else is waiting, and answers once it is committed.
    pub async fn submit(&self, request: W::Request) -> Result<W::Answer, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((request, reply))
            .map_err(|_| EngineError::GroupCommitStopped)?;
        answer.await.map_err(|_| EngineError::GroupCommitStopped)?
    }
}

async fn run<W: Batched>(
    db: Db,
    writer: W,
    mut waiting: mpsc::UnboundedReceiver<(W::Request, Reply<W>)>,
) {
    let writer = Arc::new(writer);
    // Batches done together hold disjoint rows (each request is one task's, and a transfer
    // holds its item's lock until recorded), so they never wait on each other.
    let slots = Arc::new(Semaphore::new(db.backend().writers_at_once()));
    while let Some(first) = waiting.recv().await {
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // Gathered once a slot is free: what arrived while the batches ran joins this one.
        let mut batch = vec![first];
        while batch.len() < W::MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (db, writer) = (db.clone(), Arc::clone(&writer));
        tokio::spawn(async move {
            write_batch(&db, writer.as_ref(), batch).await;
            drop(slot);
        });
    }
}

async fn write_batch<W: Batched>(db: &Db, writer: &W, batch: Vec<(W::Request, Reply<W>)>) {
    let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    if requests.len() > 1 {
        match writer.execute(db, &requests).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
                return;
            }
            Err(error) => tracing::debug!(
                error = %error.report(), requests = requests.len(),
                "a batched write failed; writing each request alone"
            ),
        }
    }
    for (request, reply) in requests.iter().zip(replies) {
        let answer = writer
            .execute(db, std::slice::from_ref(request))
            .await
            .and_then(|mut answers| {
                answers
                    .pop()
                    .ok_or_else(|| EngineError::corrupt("batched write", "no answer"))
            });
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Doubles numbers, failing any batch holding a negative one; counts its batches.
    struct Doubling {
        batches: Arc<AtomicUsize>,
    }

    impl Batched for Doubling {
        type Request = i64;
        type Answer = i64;
        const MAX_BATCH: usize = 50;

        async fn execute(&self, _db: &Db, requests: &[i64]) -> Result<Vec<i64>, EngineError> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if requests.iter().any(|n| *n < 0) {
                return Err(EngineError::corrupt("number", "negative"));
            }
            Ok(requests.iter().map(|n| n * 2).collect())
        }
    }

    #[tokio::test]
    async fn requests_waiting_together_are_written_together_and_a_bad_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        let batches = Arc::new(AtomicUsize::new(0));
        let group = Arc::new(GroupCommit::start(
            db,
            Doubling {
                batches: batches.clone(),
            },
        ));
        let submitted: Vec<_> = (1..=100)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move { group.submit(n).await })
            })
            .collect();
        for (n, answer) in (1..=100).zip(submitted) {
            assert_eq!(answer.await.unwrap().unwrap(), n * 2);
        }
        let written = batches.swap(0, Ordering::SeqCst);
        assert!(
            (2..100).contains(&written),
            "100 requests in at least two batches of at most 50, not one each: {written}"
        );

        let submitted: Vec<_> = [3, -1, 5]
            .into_iter()
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move { group.submit(n).await })
            })
            .collect();
        let answers: Vec<_> = futures_util::future::join_all(submitted)
            .await
            .into_iter()
            .map(|answer| answer.unwrap().map_err(|e| e.report()))
            .collect();
        assert_eq!(
            answers,
            [
                Ok(6),
                Err("stored number is unreadable: negative".to_owned()),
                Ok(10)
            ]
        );
    }
}
