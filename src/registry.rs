//! What this build was compiled with, in one place: the formats `[sink] format` may name and the
//! storage that paths may use besides local disk, each a section of `[sink]` (and `[checkpoint]`)
//! owned by its connector (`sink_core::wiring`). The cargo features decide what is registered here,
//! and nowhere else: the job file's keys, the format names, the URL schemes and the "only applies
//! to" checks all come from these lists.

use std::sync::OnceLock;

use sink_core::wiring::{FormatFactory, FormatSection, StorageFactory};

use crate::build::CliRecord;
pub use crate::config::tables::Section;
use crate::config::tables::{fields_of, SectionError, Tables};
use crate::config::{CheckpointSection, SinkSection};
use crate::formats::{CsvFormat, JsonFormat, LinesFormat};

/// A registered section, as read from a table, and which of its keys the table gave.
pub struct Entry<'a, F: ?Sized> {
    /// The parsed section (defaults when none of its keys was given).
    pub factory: &'a F,
    /// The keys given, in the section's order.
    pub given: &'a [&'static str],
}

/// A struct with a [`Section`] per registered connector, the keys they own, how to take them out
/// of a table, and lists of them as trait objects (`fn name<T: Bound>() -> dyn Trait;`).
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])* $(#[cfg($cfg:meta)])* $field:ident: $ty:ty, )*
        }
        $($lists:tt)*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            $( $(#[doc = $doc])* $(#[cfg($cfg)])* pub $field: Section<$ty>, )*
        }

        impl $name {
            /// The keys the sections own, in order.
            pub fn keys() -> Vec<&'static str> {
                let each: &[&[&'static str]] = &[ $( $(#[cfg($cfg)])* fields_of::<$ty>(), )* ];
                each.concat()
            }

            /// Takes the keys of every section out of `tables` and parses each section.
            pub(crate) fn take(tables: &mut Tables<'_, '_>) -> Result<Self, SectionError> {
                let _ = &tables; // a build without any connector of this kind reads nothing
                Ok($name { $( $(#[cfg($cfg)])* $field: tables.take()?, )* })
            }
        }

        registry!(@lists $name [$( $(#[cfg($cfg)])* $field )*] $($lists)*);
    };
    (@lists $name:ident [$($fields:tt)*]) => {};
    (
        @lists $name:ident [$( $(#[cfg($c:meta)])* $f:ident )*]
        $(#[$fmeta:meta])*
        pub fn $list:ident $(<$g:ident: $bound:path>)? () -> dyn $tr:path;
        $($rest:tt)*
    ) => {
        impl $name {
            $(#[$fmeta])*
            pub fn $list $(<$g: $bound>)? (&self) -> Vec<Entry<'_, dyn $tr>> {
                vec![ $( $(#[cfg($c)])* Entry { factory: &self.$f.value, given: &self.$f.given }, )* ]
            }
        }
        registry!(@lists $name [$( $(#[cfg($c)])* $f )*] $($rest)*);
    };
}

registry! {
    /// The formats of this build, in the order messages list them, each with its section of
    /// `[sink]`.
    pub struct Formats {
        /// `format = "json"`.
        json: JsonFormat,
        /// `format = "lines"`.
        lines: LinesFormat,
        /// `format = "csv"`: `[sink.csv]`.
        csv: CsvFormat,
        /// `format = "sequence-file"`: `[sink.sequence_file]`.
        #[cfg(feature = "sequencefile")]
        sequence_file: connector_sequencefile::SequenceFileSection,
        /// `format = "parquet"`: `[sink.parquet]`, `[sink.schema]`.
        #[cfg(feature = "parquet")]
        parquet: connector_parquet::ParquetSection,
    }

    /// Every format, for what does not depend on the record type.
    pub fn sections() -> dyn FormatSection;

    /// Every format, to build for records of type `T`.
    pub fn factories<T: CliRecord>() -> dyn FormatFactory<T>;
}

registry! {
    /// The storage of this build besides local disk, each with its section of `[sink]` and
    /// `[checkpoint]`, in the order messages list them.
    pub struct Storages {
        /// `hdfs://`, `viewfs://`: `[….hdfs]`.
        #[cfg(feature = "hdfs")]
        hdfs: connector_hdfs::HdfsSection,
        /// `s3://`, `memory://`, ...: `[….object_store]`.
        #[cfg(feature = "object-store")]
        object_store: connector_object_store::ObjectStoreSection,
    }

    /// Every storage connector.
    pub fn all() -> dyn StorageFactory;
}

impl Storages {
    /// The storage that serves URLs of `scheme` (lowercase).
    pub fn serving(&self, scheme: &str) -> Option<&dyn StorageFactory> {
        self.all()
            .into_iter()
            .map(|e| e.factory)
            .find(|s| s.schemes().contains(&scheme))
    }
}

/// The names `format` takes in this build, in order.
pub fn format_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        Formats::default()
            .sections()
            .iter()
            .map(|e| e.factory.name())
            .collect()
    })
}

/// Every key `[sink]` takes (with `api = "file"`): the CLI's own, then the sections'.
pub fn sink_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = fields_of::<SinkSection>().to_vec();
        keys.extend(Formats::keys());
        keys.extend(Storages::keys());
        keys
    })
}

/// Every key `[checkpoint]` takes: the CLI's own, then the storage sections'.
pub fn checkpoint_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = fields_of::<CheckpointSection>().to_vec();
        keys.extend(Storages::keys());
        keys
    })
}
