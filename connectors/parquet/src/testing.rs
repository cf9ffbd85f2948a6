//! Helpers for benchmarks and tests (feature `testing`): the generator's `Event` as Arrow columns,
//! built by hand with Arrow's builders, the way a program without Spillway would.

use std::sync::Arc;

use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sink_core::runtime::Event;

/// The six columns of the generator's [`Event`]; `ts` is a UTC timestamp in milliseconds.
pub fn event_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::UInt64, false),
            Field::new("user_id", DataType::UInt64, false),
            Field::new("item_id", DataType::UInt64, false),
            Field::new("category_id", DataType::UInt64, false),
            Field::new("behavior", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]))
    }))
}

/// Builds [`Event`]s into a [`RecordBatch`] of [`event_schema`].
pub struct EventBatchBuilder {
    ids: UInt64Builder,
    users: UInt64Builder,
    items: UInt64Builder,
    categories: UInt64Builder,
    behaviors: StringBuilder,
    ts: TimestampMillisecondBuilder,
    rows: usize,
}

impl EventBatchBuilder {
    /// Room for `rows` events.
    pub fn with_capacity(rows: usize) -> Self {
        EventBatchBuilder {
            ids: UInt64Builder::with_capacity(rows),
            users: UInt64Builder::with_capacity(rows),
            items: UInt64Builder::with_capacity(rows),
            categories: UInt64Builder::with_capacity(rows),
            behaviors: StringBuilder::with_capacity(rows, rows * 4),
            ts: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            rows: 0,
        }
    }

    /// Appends one event.
    pub fn push(&mut self, e: &Event) {
        self.ids.append_value(e.event_id);
        self.users.append_value(e.user_id);
        self.items.append_value(e.item_id);
        self.categories.append_value(e.category_id);
        self.behaviors.append_value(e.behavior.as_str());
        self.ts.append_value(e.ts);
        self.rows += 1;
    }

    /// Events appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no event was appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The batch of the events appended so far (the builder is then empty).
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.users.finish()),
            Arc::new(self.items.finish()),
            Arc::new(self.categories.finish()),
            Arc::new(self.behaviors.finish()),
            Arc::new(self.ts.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(event_schema(), columns).expect("the columns match event_schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sink_core::runtime::GeneratorConfig;

    #[test]
    fn builds_the_events_it_was_given() {
        let gen = GeneratorConfig::default();
        let mut b = EventBatchBuilder::with_capacity(2);
        assert!(b.is_empty());
        let (e0, e1) = (gen.event(0, 0), gen.event(1, 7));
        b.push(&e0);
        b.push(&e1);
        assert_eq!(b.len(), 2);
        let batch = b.finish();
        assert!(b.is_empty());
        assert_eq!(batch.num_rows(), 2);
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::UInt64Array>()
            .unwrap();
        assert_eq!(ids.values(), &[e0.event_id, e1.event_id]);
        let behaviors = batch
            .column(4)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        assert_eq!(behaviors.value(1), e1.behavior.as_str());
    }
}
