//! Reading the connectors' keys out of a TOML table before the rest of it is read, so that each
//! connector parses its own section while errors still point at the line of the job file.
//!
//! A section is a serde struct whose fields are the keys it owns (`ParquetSection { parquet,
//! schema }`). [`Tables::take`] moves those keys into a table of their own, keeping their
//! positions in the text, and deserialises the section from it: an error inside `[sink.parquet]`
//! reads exactly as if the whole file had been deserialised at once. What is left is the
//! program's own keys; [`refuse_unknown`] names a stray key with every key the table accepts,
//! the sections' included, as `deny_unknown_fields` would.

use std::cell::Cell;
use std::ops::Range;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use toml::de::{DeTable, Error};
use toml::Spanned;

/// A section as read from a table, with the keys that were given (empty: the section's
/// defaults).
#[derive(Clone, Debug, Default)]
pub struct Section<S> {
    /// The parsed section.
    pub value: S,
    /// The keys of the section present in the table, in the section's order.
    pub given: Vec<&'static str>,
}

/// An error in a section, with the first key it owns that was given.
#[derive(Debug)]
pub(crate) struct SectionError {
    /// The key (`object_store`).
    pub key: &'static str,
    /// The error, which points into the text.
    pub error: Error,
}

/// The keys of one table of a document, from which sections take theirs.
pub(crate) struct Tables<'t, 'i> {
    table: &'t mut DeTable<'i>,
    span: Range<usize>,
    text: &'t str,
}

impl<'t, 'i> Tables<'t, 'i> {
    /// The table at `span` of `text`.
    pub(crate) fn new(table: &'t mut DeTable<'i>, span: Range<usize>, text: &'t str) -> Self {
        Tables { table, span, text }
    }

    /// Removes the keys of section `S` from the table and deserialises it from them.
    pub(crate) fn take<S: DeserializeOwned + Default>(
        &mut self,
    ) -> Result<Section<S>, SectionError> {
        let mut own = DeTable::new();
        let mut given = Vec::new();
        for &key in fields_of::<S>() {
            if let Some((k, v)) = self.table.remove_entry(key) {
                own.insert(k, v);
                given.push(key);
            }
        }
        let Some(&key) = given.first() else {
            return Ok(Section::default());
        };
        let de = toml::de::Deserializer::from(Spanned::new(self.span.clone(), own));
        let value = S::deserialize(de).map_err(|mut error| {
            error.set_input(Some(self.text));
            SectionError { key, error }
        })?;
        Ok(Section { value, given })
    }

    /// What is left of the table.
    pub(crate) fn rest(&self) -> &DeTable<'i> {
        self.table
    }
}

/// The keys serde derives for the struct `T`: those `deny_unknown_fields` would accept.
pub(crate) fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    /// A deserializer that only records the fields a struct asks for.
    struct Probe<'a>(&'a Cell<&'static [&'static str]>);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let fields = Cell::new(&[][..]);
    // The probe always fails: what matters is what it recorded.
    let _ = T::deserialize(Probe(&fields));
    fields.get()
}

/// Refuses the first key of `table` that is not in `known`, with serde's message for an unknown
/// field (listing `known`) and the key's place in `text`.
pub(crate) fn refuse_unknown(
    table: &DeTable<'_>,
    span: Range<usize>,
    known: &'static [&'static str],
    text: &str,
) -> Result<(), Error> {
    let Some((k, v)) = table
        .iter()
        .find(|(k, _)| !known.contains(&k.get_ref().as_ref()))
    else {
        return Ok(());
    };

    /// Reads one key and refuses it.
    struct Refuse(&'static [&'static str]);

    impl<'de> Visitor<'de> for Refuse {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a table")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            map.next_key_seed(self).map(|_| ())
        }
        fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
            Err(E::unknown_field(key, self.0))
        }
    }

    impl<'de> DeserializeSeed<'de> for Refuse {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_str(self)
        }
    }

    let mut one = DeTable::new();
    one.insert(k.clone(), v.clone());
    let de = toml::de::Deserializer::from(Spanned::new(span, one));
    de.deserialize_map(Refuse(known)).map_err(|mut e| {
        e.set_input(Some(text));
        e
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Two {
        a: Option<u32>,
        b: Option<String>,
    }

    #[test]
    fn fields_are_the_derived_ones() {
        assert_eq!(fields_of::<Two>(), ["a", "b"]);
        #[derive(Deserialize)]
        struct Empty {}
        assert!(fields_of::<Empty>().is_empty());
    }

    #[test]
    fn sections_take_their_keys_and_errors_point_at_the_line() {
        let text = "[t]\nx = 1\na = 5\nb = \"s\"\n[u]\na = \"five\"\n";
        let mut doc = DeTable::parse(text).unwrap();
        let span = doc.span();
        let Some(toml::de::DeValue::Table(t)) = doc.get_mut().get_mut("t").map(|v| v.get_mut())
        else {
            panic!("no table t")
        };
        let mut tables = Tables::new(t, span.clone(), text);
        let two = tables.take::<Two>().unwrap();
        assert_eq!((two.value.a, two.value.b.as_deref()), (Some(5), Some("s")));
        assert_eq!(two.given, ["a", "b"]);
        assert_eq!(tables.rest().len(), 1, "only x is left");
        let err = refuse_unknown(tables.rest(), span.clone(), &["y", "z"], text).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("line 2") && shown.contains("unknown field `x`, expected `y` or `z`"),
            "{shown}"
        );
        let Some(toml::de::DeValue::Table(u)) = doc.get_mut().get_mut("u").map(|v| v.get_mut())
        else {
            panic!("no table u")
        };
        let err = Tables::new(u, span, text).take::<Two>().unwrap_err();
        assert_eq!(err.key, "a");
        let shown = err.error.to_string();
        assert!(
            shown.contains("line 6") && shown.contains("invalid type"),
            "{shown}"
        );
    }
}
