//! The byte stream of the source service ([`crate::Service::Source`]).

/// The period of the source pattern: byte `i` of the stream is `(i % 251) as u8`.
///
/// A prime, so the pattern never lines up with buffer or segment sizes.
pub const SOURCE_PATTERN_PERIOD: u64 = 251;

/// Byte `index` (counting from 0) of the stream a source service sends.
///
/// # Examples
///
/// ```
/// use wskrs_protocol::source_byte;
///
/// assert_eq!((source_byte(0), source_byte(250), source_byte(251)), (0, 250, 0));
/// ```
#[must_use]
pub const fn source_byte(index: u64) -> u8 {
    let [low, ..] = match index.checked_rem(SOURCE_PATTERN_PERIOD) {
        Some(rest) => rest.to_le_bytes(),
        None => [0; 8],
    };
    low
}

/// Fills `out` with the source stream from byte `start` on; returns the index of the byte
/// after the last one written.
///
/// The driver fills its send buffers with it; a client checks what it received against it.
pub fn fill_source_pattern(out: &mut [u8], start: u64) -> u64 {
    let mut value = source_byte(start);
    for slot in out.iter_mut() {
        *slot = value;
        value = if u64::from(value) >= SOURCE_PATTERN_PERIOD - 1 {
            0
        } else {
            value.wrapping_add(1)
        };
    }
    start.wrapping_add(u64::try_from(out.len()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{fill_source_pattern, source_byte, SOURCE_PATTERN_PERIOD};
    use std::vec;

    #[test]
    fn bytes_follow_the_formula() {
        for index in (0..2000).chain(u64::MAX - 600..=u64::MAX) {
            assert_eq!(
                u64::from(source_byte(index)),
                index % SOURCE_PATTERN_PERIOD,
                "{index}"
            );
        }
    }

    #[test]
    fn fill_continues_across_calls() {
        let mut whole = vec![0u8; 1000];
        assert_eq!(fill_source_pattern(&mut whole, 0), 1000);
        let mut parts = vec![0u8; 1000];
        let (first, second) = parts.split_at_mut(333);
        let next = fill_source_pattern(first, 0);
        assert_eq!(next, 333);
        assert_eq!(fill_source_pattern(second, next), 1000);
        assert_eq!(whole, parts);
        for (index, byte) in whole.iter().enumerate() {
            assert_eq!(usize::from(*byte), index % 251);
        }
        let mut late = [0u8; 4];
        assert_eq!(fill_source_pattern(&mut late, 249), 253);
        assert_eq!(late, [249, 250, 0, 1]);
        assert_eq!(fill_source_pattern(&mut [], 7), 7);
    }
}
