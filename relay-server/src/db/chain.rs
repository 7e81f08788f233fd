//! Group commit for the audit hash chain. Every append goes through one queue per
//! relay; a single task takes whatever is waiting (up to [`MAX_BATCH`]) and appends it
//! in one transaction under the audit lock ([`Conn::chain_batch`]): the chain's head is
//! read once per batch instead of once per row, and on SQLite a batch is one trip to
//! the blocking pool. A request that is cancelled while waiting cannot interrupt a
//! batch: the task owns it.

use tokio::sync::{mpsc, oneshot};

use super::conn::{ChainJob, Pool};
use crate::error::{ApiError, ApiResult};

/// Most appends committed together.
const MAX_BATCH: usize = 256;
/// Appends waiting before senders wait too (back-pressure).
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<ApiResult<()>>;

/// The queue in front of one chain.
pub(crate) struct ChainQueue {
    tx: mpsc::Sender<(ChainJob, Reply)>,
}

impl ChainQueue {
    /// Starts the committing task for the chain whose head `read` selects. It ends
    /// when the last handle to the queue is dropped.
    pub(crate) fn start(pool: Pool, read: &'static str) -> Self {
        let (tx, mut rx) = mpsc::channel::<(ChainJob, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
                let (jobs, replies): (Vec<_>, Vec<_>) = buf.drain(..).unzip();
                let results = commit(&pool, read, jobs).await;
                for (result, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(result);
                }
            }
        });
        Self { tx }
    }

    /// Appends one job; returns once its batch committed (or failed).
    pub(crate) async fn append(&self, job: ChainJob) -> ApiResult<()> {
        let stopped = || ApiError::Internal("the audit writer stopped".into());
        let (tx, rx) = oneshot::channel();
        self.tx.send((job, tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// Commits `jobs` together; when the batch fails as a whole (PostgreSQL aborts a
/// transaction at its first error), each job is retried alone, so one bad job fails
/// only itself.
async fn commit(pool: &Pool, read: &'static str, jobs: Vec<ChainJob>) -> Vec<ApiResult<()>> {
    let n = jobs.len();
    let together = match pool.get().await {
        Ok(mut c) => c.chain_batch(read, jobs.clone()).await,
        Err(e) => Err(e),
    };
    match together {
        Ok(results) => results,
        Err(e) if n == 1 => vec![Err(e)],
        Err(_) => {
            let mut out = Vec::with_capacity(n);
            for job in jobs {
                let alone = match pool.get().await {
                    Ok(mut c) => c
                        .chain_batch(read, vec![job])
                        .await
                        .and_then(|mut r| r.pop().unwrap_or(Ok(()))),
                    Err(e) => Err(e),
                };
                out.push(alone);
            }
            out
        }
    }
}
