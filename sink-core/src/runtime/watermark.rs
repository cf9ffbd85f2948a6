//! Watermarks of a reader: per split, the highest event time seen minus a bound on how late records
//! may be; combined as the minimum over splits, leaving out splits that are idle or finished.

/// Tracks the watermark of one reader's splits.
///
/// ```
/// use sink_core::runtime::WatermarkTracker;
/// let mut wm = WatermarkTracker::new(2, 100, Some(5_000));
/// wm.on_record(0, 1_000, 0);
/// assert_eq!(wm.watermark(0), None, "split 1 has no record yet and is not idle");
/// wm.on_record(1, 2_000, 0);
/// assert_eq!(wm.watermark(0), Some(899));
/// assert_eq!(wm.watermark(6_000), Some(899), "both idle: the watermark stays");
/// wm.on_record(1, 3_000, 6_000);
/// assert_eq!(wm.watermark(6_000), Some(2_899), "split 0 idle, left out");
/// ```
#[derive(Clone, Debug)]
pub struct WatermarkTracker {
    splits: Vec<SplitState>,
    out_of_orderness: i64,
    idle_timeout: Option<i64>,
    current: Option<i64>,
    created: Option<i64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct SplitState {
    max_ts: Option<i64>,
    last_active: Option<i64>,
    finished: bool,
}

impl WatermarkTracker {
    /// A tracker of `splits` splits, allowing records `out_of_orderness_ms` late; a split with no
    /// record for `idle_timeout_ms` is left out until it has one again.
    pub fn new(splits: usize, out_of_orderness_ms: i64, idle_timeout_ms: Option<i64>) -> Self {
        WatermarkTracker {
            splits: vec![SplitState::default(); splits],
            out_of_orderness: out_of_orderness_ms.max(0),
            idle_timeout: idle_timeout_ms,
            current: None,
            created: None,
        }
    }

    /// Adds a split (discovered while running); returns its index.
    pub fn add_split(&mut self) -> usize {
        self.splits.push(SplitState::default());
        self.splits.len() - 1
    }

    /// A record of `split` with event time `ts`, seen at processing time `now`.
    pub fn on_record(&mut self, split: usize, ts: i64, now: i64) {
        if let Some(s) = self.splits.get_mut(split) {
            s.max_ts = Some(s.max_ts.map_or(ts, |m| m.max(ts)));
            s.last_active = Some(now);
        }
    }

    /// The split has ended; it no longer holds the watermark back.
    pub fn finish(&mut self, split: usize) {
        if let Some(s) = self.splits.get_mut(split) {
            s.finished = true;
        }
    }

    /// The watermark at processing time `now`. It never goes back.
    pub fn watermark(&mut self, now: i64) -> Option<i64> {
        let created = *self.created.get_or_insert(now);
        let mut min: Option<i64> = None;
        let mut blocked = false;
        for s in &self.splits {
            if s.finished {
                continue;
            }
            let idle = self
                .idle_timeout
                .is_some_and(|t| now - s.last_active.unwrap_or(created) >= t);
            if idle {
                continue;
            }
            match s.max_ts {
                Some(m) => min = Some(min.map_or(m, |x: i64| x.min(m))),
                None => blocked = true,
            }
        }
        if !blocked {
            if let Some(m) = min {
                let w = m - self.out_of_orderness - 1;
                self.current = Some(self.current.map_or(w, |c| c.max(w)));
            }
        }
        self.current
    }
}
