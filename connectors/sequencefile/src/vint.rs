//! Hadoop's variable-length integers (`WritableUtils.writeVLong` / `writeVInt`).
//!
//! A value in `-112..=127` is one byte. Otherwise a first byte gives the sign and the number of
//! bytes that follow (`-113..=-120`: positive, 1 to 8 bytes; `-121..=-128`: negative, stored as its
//! one's complement), then the magnitude, big-endian, without leading zero bytes.

/// Appends `v` as Hadoop's `WritableUtils.writeVLong` does.
///
/// ```
/// let mut out = Vec::new();
/// connector_sequencefile::vint::write_vlong(&mut out, 300);
/// assert_eq!(out, [0x8e, 0x01, 0x2c]);
/// ```
#[inline]
pub fn write_vlong(out: &mut Vec<u8>, v: i64) {
    if (-112..=127).contains(&v) {
        out.push(v as u8);
        return;
    }
    let (magnitude, base) = if v < 0 { (!v, -120i32) } else { (v, -112i32) };
    let bytes = 8 - (magnitude.leading_zeros() / 8) as usize; // 1..=8, magnitude > 0 here
    out.push((base - bytes as i32) as u8);
    out.extend_from_slice(&magnitude.to_be_bytes()[8 - bytes..]);
}

/// Appends `v` as Hadoop's `WritableUtils.writeVInt` does (the same encoding as a long).
#[inline]
pub fn write_vint(out: &mut Vec<u8>, v: i32) {
    write_vlong(out, i64::from(v));
}

/// The number of bytes [`write_vlong`] writes for `v` (`WritableUtils.getVIntSize`).
pub fn vlong_size(v: i64) -> usize {
    if (-112..=127).contains(&v) {
        return 1;
    }
    let magnitude = if v < 0 { !v } else { v };
    1 + 8 - (magnitude.leading_zeros() / 8) as usize
}

/// Reads a value written by [`write_vlong`] from the start of `buf`: the value and the bytes used,
/// or `None` when `buf` is too short.
pub fn read_vlong(buf: &[u8]) -> Option<(i64, usize)> {
    let first = *buf.first()? as i8;
    if first >= -112 {
        return Some((i64::from(first), 1));
    }
    let (negative, len) = if first < -120 {
        (true, (-120 - i32::from(first)) as usize)
    } else {
        (false, (-112 - i32::from(first)) as usize)
    };
    let bytes = buf.get(1..1 + len)?;
    let mut v: i64 = 0;
    for b in bytes {
        v = (v << 8) | i64::from(*b);
    }
    Some((if negative { !v } else { v }, 1 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings produced by Hadoop 2.7.3's `WritableUtils.writeVLong` (a Java program against
    /// hadoop-common-2.7.3.jar printed them).
    const KNOWN: &[(i64, &[u8])] = &[
        (0, &[0x00]),
        (1, &[0x01]),
        (127, &[0x7f]),
        (-1, &[0xff]),
        (-112, &[0x90]),
        (-113, &[0x87, 0x70]),
        (-256, &[0x87, 0xff]),
        (-257, &[0x86, 0x01, 0x00]),
        (128, &[0x8f, 0x80]),
        (255, &[0x8f, 0xff]),
        (256, &[0x8e, 0x01, 0x00]),
        (300, &[0x8e, 0x01, 0x2c]),
        (65535, &[0x8e, 0xff, 0xff]),
        (65536, &[0x8d, 0x01, 0x00, 0x00]),
        (1_000_000, &[0x8d, 0x0f, 0x42, 0x40]),
        (i32::MAX as i64, &[0x8c, 0x7f, 0xff, 0xff, 0xff]),
        (i32::MIN as i64, &[0x84, 0x7f, 0xff, 0xff, 0xff]),
        (1 << 32, &[0x8b, 0x01, 0x00, 0x00, 0x00, 0x00]),
        (
            i64::MAX,
            &[0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            i64::MIN,
            &[0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];

    #[test]
    fn known_encodings() {
        for (v, want) in KNOWN {
            let mut out = Vec::new();
            write_vlong(&mut out, *v);
            assert_eq!(out, *want, "writeVLong({v})");
            assert_eq!(vlong_size(*v), want.len(), "getVIntSize({v})");
            assert_eq!(read_vlong(want), Some((*v, want.len())), "readVLong({v})");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(v: i64) {
            let mut out = Vec::new();
            write_vlong(&mut out, v);
            proptest::prop_assert_eq!(out.len(), vlong_size(v));
            proptest::prop_assert_eq!(read_vlong(&out), Some((v, out.len())));
            proptest::prop_assert_eq!(read_vlong(&out[..out.len() - 1]).is_none(), out.len() > 1);
        }
    }
}
