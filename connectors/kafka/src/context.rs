//! The consumer's client side: librdkafka's logs and the group's commit results go to `tracing`
//! with secrets scrubbed, and the last reference to a consumer is dropped off the async runtime.

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::TopicPartitionList;

use crate::secret::Properties;

pub(crate) type Consumer = StreamConsumer<SourceContext>;

/// Sends librdkafka's logs to `tracing` with secrets scrubbed, and logs commit results.
pub(crate) struct SourceContext {
    pub(crate) properties: Properties,
    pub(crate) group: String,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let message = self.properties.redact(message);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac} {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = self.properties.redact(reason);
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for SourceContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                tracing::debug!(group = %self.group, partitions = offsets.count(), "offsets committed")
            }
            // The checkpoint holds the truth; the group's offsets only serve monitoring.
            Err(e) => {
                tracing::warn!(group = %self.group, error = %e, "committing offsets to the consumer group failed")
            }
        }
    }
}

/// Drops the last reference to a consumer on a thread of its own. rdkafka's consumer waits in its
/// `Drop` until the group has acknowledged the close, with no time limit; a broker that never
/// answers (or librdkafka's mock cluster, now and then) would block the runtime thread that
/// drops a reader, for instance when a job is cancelled.
pub(crate) struct ConsumerCloser(pub(crate) Option<Arc<Consumer>>);

impl Drop for ConsumerCloser {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let spawned = std::thread::Builder::new()
                .name("kafka-close".into())
                .spawn(move || drop(c));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "closing the Kafka consumer in place");
            }
        }
    }
}
