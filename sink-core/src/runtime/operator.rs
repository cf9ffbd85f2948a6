//! Chained transforms between the source and the sink: map, filter, flat_map, try_map and the
//! user's own [`Operator`]s. They run in the subtask's loop, a batch at a time, with no channel in
//! between.

use std::marker::PhantomData;
use std::sync::Arc;

use super::source::{BadRecord, StreamRecord};
use super::RuntimeContext;
use crate::error::Result;

/// A transform of a batch of records (Flink's chained operators). Each subtask gets its own
/// instance and calls [`open`](Self::open) once before the first batch, as Flink's
/// `RichFunction.open()`.
pub trait Operator<In, Out>: Send {
    /// Called once per subtask before the first batch.
    fn open(&mut self, ctx: &RuntimeContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Moves the records of `input` (which it must leave empty) to `output`, transformed. Records
    /// that cannot be transformed go to `rejected` and follow the job's bad-record policy. An `Err`
    /// stops the job.
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<In>>,
        output: &mut Vec<StreamRecord<Out>>,
        rejected: &mut Vec<BadRecord>,
    ) -> Result<()>;
}

/// Creates one operator per subtask.
pub type OperatorFactory<In, Out> = Arc<dyn Fn() -> Box<dyn Operator<In, Out>> + Send + Sync>;

/// Passes records through.
pub(crate) struct Identity;

impl<T: Send> Operator<T, T> for Identity {
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<T>>,
        output: &mut Vec<StreamRecord<T>>,
        _: &mut Vec<BadRecord>,
    ) -> Result<()> {
        if output.is_empty() {
            std::mem::swap(input, output);
        } else {
            output.append(input);
        }
        Ok(())
    }
}

/// Two operators, one after the other.
pub(crate) struct Then<A, B, Mid> {
    pub(crate) first: Box<dyn Operator<A, Mid>>,
    pub(crate) second: Box<dyn Operator<Mid, B>>,
    pub(crate) mid: Vec<StreamRecord<Mid>>,
}

impl<A: Send, Mid: Send, B: Send> Operator<A, B> for Then<A, B, Mid> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<()> {
        self.first.open(ctx)?;
        self.second.open(ctx)
    }

    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<A>>,
        output: &mut Vec<StreamRecord<B>>,
        rejected: &mut Vec<BadRecord>,
    ) -> Result<()> {
        self.first.process(input, &mut self.mid, rejected)?;
        self.second.process(&mut self.mid, output, rejected)
    }
}

pub(crate) struct Map<F, In>(pub(crate) F, pub(crate) PhantomData<fn(In)>);

impl<In: Send, Out: Send, F: FnMut(In) -> Out + Send> Operator<In, Out> for Map<F, In> {
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<In>>,
        output: &mut Vec<StreamRecord<Out>>,
        _: &mut Vec<BadRecord>,
    ) -> Result<()> {
        output.extend(input.drain(..).map(|r| StreamRecord {
            value: (self.0)(r.value),
            timestamp: r.timestamp,
            origin: r.origin,
        }));
        Ok(())
    }
}

pub(crate) struct Filter<F>(pub(crate) F);

impl<T: Send, F: FnMut(&T) -> bool + Send> Operator<T, T> for Filter<F> {
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<T>>,
        output: &mut Vec<StreamRecord<T>>,
        _: &mut Vec<BadRecord>,
    ) -> Result<()> {
        output.extend(input.drain(..).filter(|r| (self.0)(&r.value)));
        Ok(())
    }
}

pub(crate) struct FlatMap<F, In>(pub(crate) F, pub(crate) PhantomData<fn(In)>);

impl<In: Send, Out: Send, I, F> Operator<In, Out> for FlatMap<F, In>
where
    I: IntoIterator<Item = Out>,
    F: FnMut(In) -> I + Send,
{
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<In>>,
        output: &mut Vec<StreamRecord<Out>>,
        _: &mut Vec<BadRecord>,
    ) -> Result<()> {
        for r in input.drain(..) {
            let (ts, origin) = (r.timestamp, r.origin);
            output.extend((self.0)(r.value).into_iter().map(|v| StreamRecord {
                value: v,
                timestamp: ts,
                origin,
            }));
        }
        Ok(())
    }
}

pub(crate) struct TryMap<F, In>(pub(crate) F, pub(crate) PhantomData<fn(In)>);

impl<In: Send, Out: Send, E: std::fmt::Display, F> Operator<In, Out> for TryMap<F, In>
where
    F: FnMut(In) -> std::result::Result<Out, E> + Send,
{
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<In>>,
        output: &mut Vec<StreamRecord<Out>>,
        rejected: &mut Vec<BadRecord>,
    ) -> Result<()> {
        for r in input.drain(..) {
            match (self.0)(r.value) {
                Ok(v) => output.push(StreamRecord {
                    value: v,
                    timestamp: r.timestamp,
                    origin: r.origin,
                }),
                Err(e) => rejected.push(BadRecord {
                    origin: r.origin,
                    reason: e.to_string(),
                    payload: None,
                }),
            }
        }
        Ok(())
    }
}

/// Sets each record's event timestamp from the record itself.
pub(crate) struct AssignTimestamps<F>(pub(crate) F);

impl<T: Send, F: FnMut(&T) -> Option<i64> + Send> Operator<T, T> for AssignTimestamps<F> {
    fn process(
        &mut self,
        input: &mut Vec<StreamRecord<T>>,
        output: &mut Vec<StreamRecord<T>>,
        _: &mut Vec<BadRecord>,
    ) -> Result<()> {
        output.extend(input.drain(..).map(|mut r| {
            r.timestamp = (self.0)(&r.value);
            r
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::source::Origin;

    fn recs(v: &[i32]) -> Vec<StreamRecord<i32>> {
        v.iter()
            .enumerate()
            .map(|(i, x)| StreamRecord {
                value: *x,
                timestamp: Some(i as i64),
                origin: Origin {
                    split: 0,
                    position: i as i64,
                },
            })
            .collect()
    }

    #[test]
    fn chained_operators_keep_origin_and_time() {
        let mut op: Box<dyn Operator<i32, String>> = Box::new(Then {
            first: Box::new(Then {
                first: Box::new(Filter(|x: &i32| *x != 2)),
                second: Box::new(FlatMap(|x: i32| vec![x; x as usize], PhantomData)),
                mid: Vec::new(),
            }),
            second: Box::new(TryMap(
                |x: i32| {
                    if x == 4 {
                        Err("four")
                    } else {
                        Ok(format!("v{x}"))
                    }
                },
                PhantomData,
            )),
            mid: Vec::new(),
        });
        let mut input = recs(&[1, 2, 3, 4]);
        let mut out = Vec::new();
        let mut bad = Vec::new();
        op.process(&mut input, &mut out, &mut bad).unwrap();
        assert!(input.is_empty());
        let values: Vec<_> = out.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(values, vec!["v1", "v3", "v3", "v3"]);
        assert_eq!(out[1].origin.position, 2);
        assert_eq!(out[3].timestamp, Some(2));
        assert_eq!(bad.len(), 4);
        assert!(bad
            .iter()
            .all(|b| b.origin.position == 3 && b.reason == "four"));
    }

    #[test]
    fn map_identity_and_timestamps() {
        let mut m = Map(|x: i32| x * 10, PhantomData);
        let mut out = Vec::new();
        m.process(&mut recs(&[1, 2]), &mut out, &mut Vec::new())
            .unwrap();
        let mut ts = AssignTimestamps(|x: &i32| Some(*x as i64 + 5));
        let mut out2 = Vec::new();
        ts.process(&mut out, &mut out2, &mut Vec::new()).unwrap();
        let mut id = Identity;
        let mut out3 = vec![];
        id.process(&mut out2, &mut out3, &mut Vec::new()).unwrap();
        assert_eq!(
            out3.iter()
                .map(|r| (r.value, r.timestamp))
                .collect::<Vec<_>>(),
            vec![(10, Some(15)), (20, Some(25))]
        );
    }
}
