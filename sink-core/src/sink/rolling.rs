//! Rolling policies: when an open part file is closed and a new one started.
//!
//! A policy is asked on every record ([`RollingPolicy::should_roll_on_event`]), on every
//! processing-time tick (the sink's bucket check interval, [`RollingPolicy::should_roll_on_processing_time`]),
//! and at every checkpoint ([`RollingPolicy::should_roll_on_checkpoint`]). Time-based rolls fire on the
//! tick: no new record is needed.

use std::sync::Arc;
use std::time::Duration;

/// What a policy knows about an open part file (Flink's `PartFileInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartFileInfo<'a> {
    /// The part's bucket id.
    pub bucket_id: &'a str,
    /// Processing time when the part was opened, in milliseconds.
    pub creation_time: i64,
    /// Processing time of the last record written, in milliseconds.
    pub last_update_time: i64,
    /// Bytes written so far, including bytes still buffered in memory.
    pub size: u64,
    /// Records written so far.
    pub records: u64,
}

/// Decides when to roll part files (Flink's `RollingPolicy`).
pub trait RollingPolicy<T>: Send + Sync + 'static {
    /// Asked at each checkpoint. A part that does not roll is persisted and stays open.
    fn should_roll_on_checkpoint(&self, part: &PartFileInfo<'_>) -> bool;

    /// Asked before each record is written to `part`.
    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, record: &T) -> bool;

    /// Asked on each processing-time tick with the current time in milliseconds.
    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool;
}

/// A policy that rolls at every checkpoint (it may roll more often). Bulk formats only accept these
/// (Flink's `CheckpointRollingPolicy`); the sink also rolls bulk parts at every checkpoint whatever
/// the policy says.
pub trait RollsOnCheckpoint {}

/// Flink's default: 128 MiB.
pub const DEFAULT_MAX_PART_SIZE: u64 = 128 * 1024 * 1024;
/// Flink's default: 60 s.
pub const DEFAULT_ROLLOVER_INTERVAL: Duration = Duration::from_secs(60);
/// Flink's default: 60 s.
pub const DEFAULT_INACTIVITY_INTERVAL: Duration = Duration::from_secs(60);

/// Rolls on size, age and inactivity (Flink's `DefaultRollingPolicy`): when the part is larger than
/// `max_part_size` (default 128 MiB), older than `rollover_interval` (60 s) or has had no record for
/// `inactivity_interval` (60 s).
///
/// ```
/// use std::time::Duration;
/// use sink_core::sink::{DefaultRollingPolicy, PartFileInfo, RollingPolicy};
/// let p = DefaultRollingPolicy::builder()
///     .with_max_part_size(1024)
///     .with_rollover_interval(Duration::from_secs(15 * 60))
///     .with_inactivity_interval(Duration::from_secs(5 * 60))
///     .build();
/// let part = PartFileInfo { bucket_id: "", creation_time: 0, last_update_time: 0, size: 2048, records: 9 };
/// assert!(RollingPolicy::<()>::should_roll_on_event(&p, &part, &()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRollingPolicy {
    max_part_size: u64,
    rollover_interval: Duration,
    inactivity_interval: Duration,
}

impl Default for DefaultRollingPolicy {
    fn default() -> Self {
        DefaultRollingPolicy {
            max_part_size: DEFAULT_MAX_PART_SIZE,
            rollover_interval: DEFAULT_ROLLOVER_INTERVAL,
            inactivity_interval: DEFAULT_INACTIVITY_INTERVAL,
        }
    }
}

impl DefaultRollingPolicy {
    /// Starts from the defaults.
    pub fn builder() -> DefaultRollingPolicyBuilder {
        DefaultRollingPolicyBuilder(DefaultRollingPolicy::default())
    }

    /// The size limit in bytes.
    pub fn max_part_size(&self) -> u64 {
        self.max_part_size
    }

    /// The age limit.
    pub fn rollover_interval(&self) -> Duration {
        self.rollover_interval
    }

    /// The inactivity limit.
    pub fn inactivity_interval(&self) -> Duration {
        self.inactivity_interval
    }
}

/// Builder of [`DefaultRollingPolicy`].
#[derive(Clone, Copy, Debug)]
pub struct DefaultRollingPolicyBuilder(DefaultRollingPolicy);

impl DefaultRollingPolicyBuilder {
    /// Rolls when a part is larger than this many bytes.
    pub fn with_max_part_size(mut self, bytes: u64) -> Self {
        self.0.max_part_size = bytes;
        self
    }

    /// Rolls when a part is older than this.
    pub fn with_rollover_interval(mut self, d: Duration) -> Self {
        self.0.rollover_interval = d;
        self
    }

    /// Rolls when a part has had no record for this long.
    pub fn with_inactivity_interval(mut self, d: Duration) -> Self {
        self.0.inactivity_interval = d;
        self
    }

    /// The policy.
    pub fn build(self) -> DefaultRollingPolicy {
        self.0
    }
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl<T> RollingPolicy<T> for DefaultRollingPolicy {
    fn should_roll_on_checkpoint(&self, part: &PartFileInfo<'_>) -> bool {
        part.size > self.max_part_size
    }

    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, _: &T) -> bool {
        part.size > self.max_part_size
    }

    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        now.saturating_sub(part.creation_time) >= millis(self.rollover_interval)
            || now.saturating_sub(part.last_update_time) >= millis(self.inactivity_interval)
    }
}

/// Rolls at every checkpoint, and optionally on size, age and inactivity as well (Flink's
/// `CheckpointRollingPolicy` family). With no limits set it is Flink's
/// `OnCheckpointRollingPolicy`, the default for bulk formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointRollingPolicy {
    max_part_size: Option<u64>,
    rollover_interval: Option<Duration>,
    inactivity_interval: Option<Duration>,
}

/// Flink's `OnCheckpointRollingPolicy`: rolls at every checkpoint and never otherwise.
pub struct OnCheckpointRollingPolicy;

impl OnCheckpointRollingPolicy {
    /// The policy (Flink's `OnCheckpointRollingPolicy.build()`).
    #[allow(clippy::new_ret_no_self)]
    pub fn build() -> CheckpointRollingPolicy {
        CheckpointRollingPolicy::default()
    }
}

impl CheckpointRollingPolicy {
    /// Also rolls when a part is larger than this many bytes, so no part grows past it.
    pub fn with_max_part_size(mut self, bytes: u64) -> Self {
        self.max_part_size = Some(bytes);
        self
    }

    /// Also rolls parts older than this.
    pub fn with_rollover_interval(mut self, d: Duration) -> Self {
        self.rollover_interval = Some(d);
        self
    }

    /// Also rolls parts without a record for this long.
    pub fn with_inactivity_interval(mut self, d: Duration) -> Self {
        self.inactivity_interval = Some(d);
        self
    }

    /// The size limit, if any.
    pub fn max_part_size(&self) -> Option<u64> {
        self.max_part_size
    }
}

impl RollsOnCheckpoint for CheckpointRollingPolicy {}

impl<T> RollingPolicy<T> for CheckpointRollingPolicy {
    fn should_roll_on_checkpoint(&self, _: &PartFileInfo<'_>) -> bool {
        true
    }

    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, _: &T) -> bool {
        self.max_part_size.is_some_and(|m| part.size >= m)
    }

    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        self.rollover_interval
            .is_some_and(|d| now.saturating_sub(part.creation_time) >= millis(d))
            || self
                .inactivity_interval
                .is_some_and(|d| now.saturating_sub(part.last_update_time) >= millis(d))
    }
}

/// Rolls when either of two policies would.
#[derive(Clone, Debug)]
pub struct AnyOf<A, B>(pub A, pub B);

impl<T, A: RollingPolicy<T>, B: RollingPolicy<T>> RollingPolicy<T> for AnyOf<A, B> {
    fn should_roll_on_checkpoint(&self, part: &PartFileInfo<'_>) -> bool {
        self.0.should_roll_on_checkpoint(part) || self.1.should_roll_on_checkpoint(part)
    }

    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, record: &T) -> bool {
        self.0.should_roll_on_event(part, record) || self.1.should_roll_on_event(part, record)
    }

    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        self.0.should_roll_on_processing_time(part, now)
            || self.1.should_roll_on_processing_time(part, now)
    }
}

impl<A: RollsOnCheckpoint, B> RollsOnCheckpoint for AnyOf<A, B> {}

/// Combinators for policies.
pub trait RollingPolicyExt<T>: RollingPolicy<T> + Sized {
    /// Rolls when `self` or `other` would.
    fn or<B: RollingPolicy<T>>(self, other: B) -> AnyOf<Self, B> {
        AnyOf(self, other)
    }
}

impl<T, P: RollingPolicy<T>> RollingPolicyExt<T> for P {}

impl<T, P: RollingPolicy<T> + ?Sized> RollingPolicy<T> for Arc<P> {
    fn should_roll_on_checkpoint(&self, part: &PartFileInfo<'_>) -> bool {
        (**self).should_roll_on_checkpoint(part)
    }

    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, record: &T) -> bool {
        (**self).should_roll_on_event(part, record)
    }

    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        (**self).should_roll_on_processing_time(part, now)
    }
}

impl<T, P: RollingPolicy<T> + ?Sized> RollingPolicy<T> for Box<P> {
    fn should_roll_on_checkpoint(&self, part: &PartFileInfo<'_>) -> bool {
        (**self).should_roll_on_checkpoint(part)
    }

    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, record: &T) -> bool {
        (**self).should_roll_on_event(part, record)
    }

    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        (**self).should_roll_on_processing_time(part, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(created: i64, updated: i64, size: u64) -> PartFileInfo<'static> {
        PartFileInfo {
            bucket_id: "b",
            creation_time: created,
            last_update_time: updated,
            size,
            records: 1,
        }
    }

    #[test]
    fn defaults_are_flinks() {
        let p = DefaultRollingPolicy::default();
        assert_eq!(p.max_part_size(), 128 * 1024 * 1024);
        assert_eq!(p.rollover_interval(), Duration::from_secs(60));
        assert_eq!(p.inactivity_interval(), Duration::from_secs(60));
    }

    #[test]
    fn default_policy_decisions() {
        let p = DefaultRollingPolicy::builder()
            .with_max_part_size(100)
            .with_rollover_interval(Duration::from_millis(1000))
            .with_inactivity_interval(Duration::from_millis(300))
            .build();
        // (part, now, on_event, on_checkpoint, on_time, why)
        let table = [
            (
                part(0, 0, 100),
                0,
                false,
                false,
                false,
                "at the limit, fresh",
            ),
            (part(0, 0, 101), 0, true, true, false, "past the size limit"),
            (
                part(0, 900, 10),
                999,
                false,
                false,
                false,
                "young and active",
            ),
            (
                part(0, 900, 10),
                1000,
                false,
                false,
                true,
                "rollover interval reached",
            ),
            (
                part(0, 600, 10),
                899,
                false,
                false,
                false,
                "inactive 299 ms",
            ),
            (part(0, 600, 10), 900, false, false, true, "inactive 300 ms"),
        ];
        for (info, now, ev, ck, tm, why) in table {
            assert_eq!(
                RollingPolicy::<()>::should_roll_on_event(&p, &info, &()),
                ev,
                "{why}: event"
            );
            assert_eq!(
                RollingPolicy::<()>::should_roll_on_checkpoint(&p, &info),
                ck,
                "{why}: checkpoint"
            );
            assert_eq!(
                RollingPolicy::<()>::should_roll_on_processing_time(&p, &info, now),
                tm,
                "{why}: time"
            );
        }
    }

    #[test]
    fn checkpoint_policies() {
        let on_ck = OnCheckpointRollingPolicy::build();
        let big = part(0, 0, u64::MAX);
        assert!(RollingPolicy::<()>::should_roll_on_checkpoint(
            &on_ck,
            &part(0, 0, 0)
        ));
        assert!(!RollingPolicy::<()>::should_roll_on_event(
            &on_ck,
            &big,
            &()
        ));
        assert!(!RollingPolicy::<()>::should_roll_on_processing_time(
            &on_ck,
            &big,
            i64::MAX
        ));
        let sized = OnCheckpointRollingPolicy::build().with_max_part_size(50);
        assert!(RollingPolicy::<()>::should_roll_on_event(
            &sized,
            &part(0, 0, 50),
            &()
        ));
        assert!(!RollingPolicy::<()>::should_roll_on_event(
            &sized,
            &part(0, 0, 49),
            &()
        ));
    }

    #[test]
    fn any_of_combines() {
        let p = RollingPolicyExt::<()>::or(
            OnCheckpointRollingPolicy::build(),
            DefaultRollingPolicy::builder()
                .with_max_part_size(10)
                .build(),
        );
        assert!(RollingPolicy::<()>::should_roll_on_checkpoint(
            &p,
            &part(0, 0, 0)
        ));
        assert!(RollingPolicy::<()>::should_roll_on_event(
            &p,
            &part(0, 0, 11),
            &()
        ));
        assert!(RollingPolicy::<()>::should_roll_on_processing_time(
            &p,
            &part(0, 0, 0),
            60_000
        ));
        fn needs_checkpoint_rolling<P: RollsOnCheckpoint>(_: &P) {}
        needs_checkpoint_rolling(&p);
    }
}
