//! Group commit. Every write must be on disk before its caller is answered, and with one sync to
//! disk per write the disk is the limit, not the machine. Callers queue their job and wait; one task
//! runs whatever has queued as one batch (one database transaction, one sync) and answers each.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result};

/// At most this many jobs go into one batch.
const MOST: usize = 1024;

type Job<J, R> = (J, oneshot::Sender<Result<R, String>>);

/// A queue whose jobs are run in batches by one task.
#[derive(Debug)]
pub(crate) struct Batcher<J, R> {
    jobs: mpsc::UnboundedSender<Job<J, R>>,
    what: &'static str,
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the task; `run` does one batch and answers each job in order. The task ends when the
    /// batcher is dropped.
    pub(crate) fn start<F, Fut>(what: &'static str, run: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Result<R, String>>> + Send,
    {
        let (jobs, mut queued) = mpsc::unbounded_channel::<Job<J, R>>();
        tokio::spawn(async move {
            while let Some(first) = queued.recv().await {
                let mut batch = vec![first];
                while batch.len() < MOST {
                    match queued.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let (inputs, replies): (Vec<J>, Vec<_>) = batch.into_iter().unzip();
                let outcomes = run(inputs).await;
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
        });
        Self { jobs, what }
    }

    /// Runs `jobs` together (in one batch, up to its size); returns once all are committed.
    pub(crate) async fn run_all(&self, jobs: Vec<J>) -> Result<Vec<R>> {
        let stopped = || Error::Batch(format!("{}: the writer has stopped", self.what));
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (reply, answer) = oneshot::channel();
            self.jobs.send((job, reply)).map_err(|_| stopped())?;
            answers.push(answer);
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(
                answer
                    .await
                    .map_err(|_| stopped())?
                    .map_err(|e| Error::Batch(format!("{}: {e}", self.what)))?,
            );
        }
        Ok(out)
    }

    /// Runs `job` in the next batch; returns once the batch is committed.
    pub(crate) async fn run(&self, job: J) -> Result<R> {
        let stopped = || Error::Batch(format!("{}: the writer has stopped", self.what));
        let (reply, answer) = oneshot::channel();
        self.jobs.send((job, reply)).map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(|e| Error::Batch(format!("{}: {e}", self.what)))
    }
}
