//! NUL-padded UTF-8 text fields: the SDDL of `TCP_LISTEN`, `UDP_BIND` and the SECURITY reply,
//! and the RESOLVE name and service.

use core::fmt;

use crate::ProtocolError;

/// The text of a NUL-padded field: the bytes before the first NUL, or the whole field when it
/// has none.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if those bytes are not UTF-8 or a byte after the first
/// NUL is not zero.
pub(crate) fn read_padded(field: &[u8]) -> Result<&str, ProtocolError> {
    let end = field
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(field.len());
    let (text, padding) = field
        .split_at_checked(end)
        .ok_or(ProtocolError::InvalidParameter)?;
    if padding.iter().any(|&byte| byte != 0) {
        return Err(ProtocolError::InvalidParameter);
    }
    core::str::from_utf8(text).map_err(|_| ProtocolError::InvalidParameter)
}

/// An optional SDDL field: `None` when it is all zero.
///
/// # Errors
///
/// As [`read_padded`].
pub(crate) fn read_sddl(field: &[u8]) -> Result<Option<&str>, ProtocolError> {
    let text = read_padded(field)?;
    Ok((!text.is_empty()).then_some(text))
}

/// Writes `text` to the start of `field` and zeroes the rest.
///
/// # Errors
///
/// [`ProtocolError::InvalidParameter`] if `text` contains a NUL or is longer than `field`
/// (`field` is left unchanged).
pub(crate) fn write_padded(field: &mut [u8], text: &str) -> Result<(), ProtocolError> {
    if text.bytes().any(|byte| byte == 0) {
        return Err(ProtocolError::InvalidParameter);
    }
    let (head, tail) = field
        .split_at_mut_checked(text.len())
        .ok_or(ProtocolError::InvalidParameter)?;
    head.copy_from_slice(text.as_bytes());
    tail.fill(0);
    Ok(())
}

/// A [`fmt::Write`] into a fixed field: fails on overflow or a NUL, never allocates.
pub(crate) struct FieldWriter<'a> {
    field: &'a mut [u8],
    /// Bytes written; always <= `field.len()`.
    used: usize,
}

impl<'a> FieldWriter<'a> {
    /// A writer at the start of `field`, which it zeroes.
    pub(crate) fn new(field: &'a mut [u8]) -> Self {
        field.fill(0);
        Self { field, used: 0 }
    }

    /// Bytes written.
    pub(crate) const fn len(&self) -> usize {
        self.used
    }
}

impl fmt::Write for FieldWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if text.bytes().any(|byte| byte == 0) {
            return Err(fmt::Error);
        }
        let end = self.used.checked_add(text.len()).ok_or(fmt::Error)?;
        let slot = self.field.get_mut(self.used..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(text.as_bytes());
        // INVARIANT: the slot existed, so `end` <= field.len().
        self.used = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{read_padded, read_sddl, write_padded, FieldWriter};
    use crate::ProtocolError;
    use core::fmt::Write;

    #[test]
    fn padded_text_rules() {
        assert_eq!(read_padded(b"abc\0\0"), Ok("abc"));
        assert_eq!(
            read_padded(b"abcde"),
            Ok("abcde"),
            "a full field needs no NUL"
        );
        assert_eq!(read_padded(b""), Ok(""));
        assert_eq!(read_padded(b"\0\0\0"), Ok(""));
        assert_eq!(
            read_padded(b"ab\0c\0"),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(
            read_padded(b"\0\0\x01"),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(read_padded(b"\xFF\0"), Err(ProtocolError::InvalidParameter));
        // A multi-byte character cut by the end of the field is not UTF-8.
        assert_eq!(read_padded(b"a\xC3"), Err(ProtocolError::InvalidParameter));
        assert_eq!(read_padded("é\0".as_bytes()), Ok("é"));
        assert_eq!(read_sddl(&[0; 8]), Ok(None));
        assert_eq!(read_sddl(b"D:P\0\0"), Ok(Some("D:P")));
    }

    #[test]
    fn write_padded_fills_and_checks() {
        let mut field = [0xAAu8; 6];
        assert_eq!(write_padded(&mut field, "abc"), Ok(()));
        assert_eq!(&field, b"abc\0\0\0");
        assert_eq!(write_padded(&mut field, "abcdef"), Ok(()));
        assert_eq!(&field, b"abcdef");
        assert_eq!(
            write_padded(&mut field, "abcdefg"),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(
            write_padded(&mut field, "a\0b"),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(&field, b"abcdef", "unchanged after an error");
        assert_eq!(write_padded(&mut field, ""), Ok(()));
        assert_eq!(field, [0; 6]);
    }

    #[test]
    fn field_writer_stops_at_the_end() {
        let mut field = [0xAAu8; 5];
        let mut writer = FieldWriter::new(&mut field);
        assert!(write!(writer, "ab{}", 12).is_ok());
        assert_eq!(writer.len(), 4);
        assert!(writer.write_str("xy").is_err());
        assert!(writer.write_str("\0").is_err());
        assert!(writer.write_str("z").is_ok());
        assert_eq!(writer.len(), 5);
        assert_eq!(&field, b"ab12z");
    }
}
