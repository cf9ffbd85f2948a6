//! Appending values to a column: each `put_*` takes a value as serde gives it, converts it to the
//! column's type where the schema allows (an integer into a float or a decimal column, a string
//! into a timestamp, a date, a decimal or base64 binary), and refuses it otherwise, appending
//! nothing then.

use super::parse::{decode_base64, parse_date, parse_decimal, parse_timestamp, scale_int};
use super::{Column, Data, Got, Misfit};

impl Column {
    // --- Appending values. Each returns why the value does not fit, and appends nothing then.

    pub(crate) fn put_bool(&mut self, v: bool) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Bool(b) => b.append(v),
            _ => return Err(self.expected(Got::Bool(v))),
        }
        self.valid();
        Ok(())
    }

    #[inline]
    pub(crate) fn put_i64(&mut self, v: i64) -> Result<(), Misfit> {
        if let Data::I64(x) | Data::Timestamp { values: x, .. } = &mut self.data {
            x.push(v);
            self.valid();
            return Ok(());
        }
        self.put_i64_converted(v)
    }

    /// [`put_i64`](Self::put_i64) into a column of another type.
    fn put_i64_converted(&mut self, v: i64) -> Result<(), Misfit> {
        fn fit<T: TryFrom<i64>>(v: i64, col: &str) -> Result<T, Misfit> {
            T::try_from(v).map_err(|_| format!("{v} is out of range for {col}"))
        }
        match &mut self.data {
            Data::I64(x) => x.push(v),
            Data::I32(x) => x.push(fit(v, "int32")?),
            Data::I16(x) => x.push(fit(v, "int16")?),
            Data::I8(x) => x.push(fit(v, "int8")?),
            Data::U64(x) => x.push(fit(v, "uint64")?),
            Data::U32(x) => x.push(fit(v, "uint32")?),
            Data::U16(x) => x.push(fit(v, "uint16")?),
            Data::U8(x) => x.push(fit(v, "uint8")?),
            Data::F64(x) => x.push(v as f64),
            Data::F32(x) => x.push(v as f32),
            Data::Timestamp { values, .. } => values.push(v),
            Data::Date32(x) => x.push(fit(v, "date32")?),
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(scale_int(v as i128, *precision, *scale)?),
            _ => return Err(self.expected(Got::Int(v))),
        }
        self.valid();
        Ok(())
    }

    #[inline]
    pub(crate) fn put_u64(&mut self, v: u64) -> Result<(), Misfit> {
        if let Data::U64(x) = &mut self.data {
            x.push(v);
            self.valid();
            return Ok(());
        }
        if let Ok(i) = i64::try_from(v) {
            return self.put_i64(i);
        }
        match &mut self.data {
            Data::U64(x) => x.push(v),
            Data::F64(x) => x.push(v as f64),
            Data::F32(x) => x.push(v as f32),
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(scale_int(v as i128, *precision, *scale)?),
            Data::I64(_)
            | Data::I32(_)
            | Data::I16(_)
            | Data::I8(_)
            | Data::U32(_)
            | Data::U16(_)
            | Data::U8(_)
            | Data::Timestamp { .. }
            | Data::Date32(_) => {
                return Err(format!("{v} is out of range for {}", self.type_name()))
            }
            _ => return Err(self.expected(Got::UInt(v))),
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn put_i128(&mut self, v: i128) -> Result<(), Misfit> {
        if let Ok(i) = i64::try_from(v) {
            return self.put_i64(i);
        }
        if let Ok(u) = u64::try_from(v) {
            return self.put_u64(u);
        }
        match &mut self.data {
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(scale_int(v, *precision, *scale)?),
            Data::F64(x) => x.push(v as f64),
            Data::F32(x) => x.push(v as f32),
            Data::List { .. } | Data::Struct { .. } | Data::Bool(_) => {
                return Err(self.expected(Got::Big(v)))
            }
            Data::Utf8(_) | Data::LargeUtf8(_) | Data::Binary(_) | Data::LargeBinary(_) => {
                return Err(self.expected(Got::Big(v)))
            }
            _ => return Err(format!("{v} is out of range for {}", self.type_name())),
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn put_f64(&mut self, v: f64) -> Result<(), Misfit> {
        match &mut self.data {
            Data::F64(x) => x.push(v),
            Data::F32(x) => x.push(v as f32),
            Data::Decimal {
                precision,
                scale,
                values,
            } => {
                if !v.is_finite() {
                    return Err(format!("{v} does not fit decimal128({precision}, {scale})"));
                }
                values.push(parse_decimal(&format!("{v}"), *precision, *scale, true)?)
            }
            _ => return Err(self.expected(Got::Float(v))),
        }
        self.valid();
        Ok(())
    }

    #[inline]
    pub(crate) fn put_str(&mut self, s: &str) -> Result<(), Misfit> {
        if let Data::Utf8(b) = &mut self.data {
            b.push(s.as_bytes())?;
            self.valid();
            return Ok(());
        }
        self.put_str_converted(s)
    }

    /// [`put_str`](Self::put_str) into a column of another type.
    fn put_str_converted(&mut self, s: &str) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Utf8(b) => b.push(s.as_bytes())?,
            Data::LargeUtf8(b) => b.push(s.as_bytes())?,
            Data::Timestamp {
                unit, zone, values, ..
            } => match parse_timestamp(s, *unit, *zone) {
                Some(t) => values.push(t),
                None => return Err(self.expected(Got::Str(s))),
            },
            Data::Date32(x) => match parse_date(s) {
                Some(d) => x.push(d),
                None => return Err(self.expected(Got::Str(s))),
            },
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(parse_decimal(s, *precision, *scale, false)?),
            Data::Binary(b) => decode_base64(s, b)?,
            Data::LargeBinary(b) => decode_base64(s, b)?,
            _ => return Err(self.expected(Got::Str(s))),
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn put_bytes(&mut self, v: &[u8]) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Binary(b) => b.push(v)?,
            Data::LargeBinary(b) => b.push(v)?,
            _ => return Err(self.expected(Got::Bytes)),
        }
        self.valid();
        Ok(())
    }

    /// For a byte sequence given element by element (a `Vec<u8>` through serde).
    pub(crate) fn put_byte_in_progress(&mut self, v: u8) {
        match &mut self.data {
            Data::Binary(b) => b.data.push(v),
            Data::LargeBinary(b) => b.data.push(v),
            _ => {}
        }
    }

    /// Ends a byte sequence given element by element.
    pub(crate) fn close_bytes(&mut self) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Binary(b) => b.close_value()?,
            Data::LargeBinary(b) => b.close_value()?,
            _ => {}
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn is_binary(&self) -> bool {
        matches!(self.data, Data::Binary(_) | Data::LargeBinary(_))
    }
}
