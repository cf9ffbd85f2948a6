//! Retries with exponential backoff for operations that failed because of the outside world.

use std::future::Future;
use std::time::Duration;

use crate::error::Result;

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Attempts in all, the first included. `0` retries forever.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            attempts: 6,
        }
    }
}

impl Backoff {
    /// Runs `op` until it succeeds, fails with an error that is not retryable, or the attempts are
    /// used up. Each retry is logged with `what`.
    pub async fn retry<R, F, Fut>(&self, what: &str, mut op: F) -> Result<R>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let mut delay = self.initial;
        let mut attempt = 1u32;
        loop {
            match op().await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retryable() && (self.attempts == 0 || attempt < self.attempts) => {
                    tracing::warn!(attempt, error = %e, "{what} failed; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.max);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_only() {
        let calls = AtomicU32::new(0);
        let b = Backoff::default();
        let r = b
            .retry("op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::storage("t", "put", "k", "flaky"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let r: Result<()> = b
            .retry("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::config("x", "bad"))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "user errors are not retried"
        );

        calls.store(0, Ordering::SeqCst);
        let r: Result<()> = b
            .retry("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::storage("t", "put", "k", "down"))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            6,
            "gives up after the attempts"
        );
    }
}
