//! Processing time.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The source of processing time, in milliseconds since the epoch.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// Now.
    fn now_millis(&self) -> i64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that follows tokio's time, which tests can pause and advance, from a given start.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    base: tokio::time::Instant,
    base_millis: i64,
}

impl TokioClock {
    /// A clock that reads `start_millis` now.
    pub fn starting_at(start_millis: i64) -> Self {
        TokioClock {
            base: tokio::time::Instant::now(),
            base_millis: start_millis,
        }
    }
}

impl Clock for TokioClock {
    fn now_millis(&self) -> i64 {
        self.base_millis + self.base.elapsed().as_millis() as i64
    }
}
