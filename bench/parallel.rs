//! Shared by the bench load clients: a job per index, at most 32 at once,
//! stopping at the first error.

use futures::{StreamExt, TryStreamExt, stream};

/// How many API calls a load client has in flight.
const CONCURRENCY: usize = 32;

/// Runs `job(0)` to `job(count - 1)`, at most [`CONCURRENCY`] at once.
pub async fn in_parallel<F, Fut>(count: usize, job: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    stream::iter(0..count)
        .map(job)
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}
