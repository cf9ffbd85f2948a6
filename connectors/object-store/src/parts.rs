//! Cutting a byte stream into multipart parts of one size, without any I/O.
//!
//! Every part but the last has exactly `part_size` bytes (R2 and some S3-compatible stores refuse
//! unequal parts; S3 refuses parts below 5 MiB). The bytes after the last full part are the
//! *tail*: kept in memory, written to a side object on persist, uploaded as the last part on close.

use bytes::Bytes;

/// Splits appended bytes into full parts and a tail.
#[derive(Debug)]
pub(crate) struct PartBuffer {
    part_size: usize,
    /// Full parts cut so far (their indexes are `0..parts`).
    parts: usize,
    tail: Vec<u8>,
}

impl PartBuffer {
    /// A buffer that continues after `parts` full parts, with `tail` already buffered
    /// (`tail.len() < part_size`).
    pub(crate) fn new(part_size: usize, parts: usize, tail: Vec<u8>) -> Self {
        debug_assert!(part_size > 0 && tail.len() < part_size);
        PartBuffer {
            part_size,
            parts,
            tail,
        }
    }

    /// Appends `data`; every part that became full is pushed to `out` with its index.
    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<(usize, Bytes)>) {
        while !data.is_empty() {
            if self.tail.is_empty() && data.len() >= self.part_size {
                // A whole part straight from the input: one copy, no growth of the tail.
                let (part, rest) = data.split_at(self.part_size);
                out.push((self.parts, Bytes::copy_from_slice(part)));
                self.parts += 1;
                data = rest;
                continue;
            }
            let n = (self.part_size - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.tail.len() == self.part_size {
                let part = std::mem::take(&mut self.tail);
                out.push((self.parts, Bytes::from(part)));
                self.parts += 1;
            }
        }
    }

    /// The bytes after the last full part.
    pub(crate) fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// Full parts cut so far.
    pub(crate) fn parts(&self) -> usize {
        self.parts
    }

    /// The part size.
    pub(crate) fn part_size(&self) -> usize {
        self.part_size
    }

    /// Bytes appended in all (full parts and tail).
    pub(crate) fn len(&self) -> u64 {
        self.parts as u64 * self.part_size as u64 + self.tail.len() as u64
    }

    /// The last part to upload on close: the tail, or an empty part 0 when there is no part at
    /// all (an upload needs one part to complete). `None` when the last full part ends the file.
    pub(crate) fn finish(&mut self) -> Option<(usize, Bytes)> {
        if self.tail.is_empty() && self.parts > 0 {
            return None;
        }
        let part = Bytes::from(std::mem::take(&mut self.tail));
        let idx = self.parts;
        self.parts += 1;
        Some((idx, part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (part size, writes, expected full part count, expected tail length, expected last part)
    type Case = (usize, &'static [usize], usize, usize, Option<usize>);

    #[test]
    fn equal_parts_and_tail() {
        let table: &[Case] = &[
            (4, &[], 0, 0, Some(0)),
            (4, &[0, 0], 0, 0, Some(0)),
            (4, &[3], 0, 3, Some(3)),
            (4, &[4], 1, 0, None),
            (4, &[5], 1, 1, Some(1)),
            (4, &[1, 1, 1, 1], 1, 0, None),
            (4, &[3, 3, 3], 2, 1, Some(1)),
            (4, &[17], 4, 1, Some(1)),
            (4, &[2, 13, 1], 4, 0, None),
            (4, &[1, 8, 3], 3, 0, None),
            (5, &[4, 4, 4, 4, 4], 4, 0, None),
            (5, &[7, 7, 7], 4, 1, Some(1)),
            (1, &[3, 2], 5, 0, None),
        ];
        for (size, writes, want_parts, want_tail, want_last) in table {
            let mut b = PartBuffer::new(*size, 0, Vec::new());
            let mut out = Vec::new();
            let mut input = Vec::new();
            let mut x = 0u8;
            for w in *writes {
                let chunk: Vec<u8> = (0..*w)
                    .map(|_| {
                        x = x.wrapping_add(1);
                        x
                    })
                    .collect();
                b.push(&chunk, &mut out);
                input.extend_from_slice(&chunk);
            }
            let case = format!("size {size}, writes {writes:?}");
            assert_eq!(out.len(), *want_parts, "{case}: full parts");
            assert_eq!(b.tail().len(), *want_tail, "{case}: tail");
            assert_eq!(b.len(), input.len() as u64, "{case}: len");
            for (i, (idx, p)) in out.iter().enumerate() {
                assert_eq!(*idx, i, "{case}: part indexes in order");
                assert_eq!(p.len(), *size, "{case}: every full part has the part size");
            }
            let last = b.finish();
            assert_eq!(last.as_ref().map(|(_, p)| p.len()), *want_last, "{case}");
            if let Some((idx, _)) = &last {
                assert_eq!(*idx, *want_parts, "{case}: last part index");
            }
            let joined: Vec<u8> = out
                .iter()
                .chain(last.iter())
                .flat_map(|(_, p)| p.iter().copied())
                .collect();
            assert_eq!(joined, input, "{case}: parts concatenate to the input");
        }
    }

    #[test]
    fn continues_after_a_resume() {
        // Resumed after 2 parts of 4 with a tail of 3: the next write completes part 2.
        let mut b = PartBuffer::new(4, 2, b"abc".to_vec());
        assert_eq!(b.len(), 11);
        let mut out = Vec::new();
        b.push(b"defghij", &mut out);
        let parts: Vec<(usize, &[u8])> = out.iter().map(|(i, p)| (*i, &p[..])).collect();
        assert_eq!(parts, vec![(2, &b"abcd"[..]), (3, &b"efgh"[..])]);
        assert_eq!(b.tail(), b"ij");
        assert_eq!(b.parts(), 4);
        assert_eq!(b.len(), 18);
        assert_eq!(
            b.finish().map(|(i, p)| (i, p.to_vec())),
            Some((4, b"ij".to_vec()))
        );
    }
}
