//! The one on-disk record format every storage file is made of:
//! `[len u32 LE][crc32 u32 LE][payload: len bytes]`.
//!
//! The CRC covers the length bytes and the payload, so a flipped length is
//! caught as surely as a flipped payload byte. Payloads are postcard.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 8;

/// The largest payload accepted, so a corrupt length can never make us
/// allocate or scan gigabytes. Large enough for any snapshot we produce.
pub const MAX_PAYLOAD_LEN: usize = 256 * 1024 * 1024;

fn checksum(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// Append one framed record holding `value` to `out`.
///
/// Fails only if the value cannot be serialized or is too large.
pub fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    let payload = postcard::to_allocvec(value).map_err(|e| format!("cannot encode: {e}"))?;
    if payload.is_empty() || payload.len() > MAX_PAYLOAD_LEN {
        return Err(format!(
            "record payload of {} bytes is outside 1..={MAX_PAYLOAD_LEN}",
            payload.len()
        ));
    }
    let len_bytes = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&checksum(len_bytes, &payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// What is found at an offset of a byte buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole record with a good checksum; `next` is where the one after starts.
    Valid { payload: &'a [u8], next: usize },
    /// The buffer ends before the header or the payload does.
    Truncated,
    /// A length that cannot be right (zero or over the limit).
    BadLength(u32),
    /// A whole record whose checksum does not match.
    BadChecksum,
}

/// Read the frame starting at `offset` of `buf`.
pub fn read_at(buf: &[u8], offset: usize) -> Frame<'_> {
    let Some(header) = buf.get(offset..offset.saturating_add(HEADER_LEN)) else {
        return Frame::Truncated;
    };
    let len_bytes: [u8; 4] = header[0..4].try_into().expect("4-byte slice");
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4-byte slice"));
    let len = u32::from_le_bytes(len_bytes);
    if len == 0 || len as usize > MAX_PAYLOAD_LEN {
        return Frame::BadLength(len);
    }
    let start = offset + HEADER_LEN;
    let Some(payload) = buf.get(start..start + len as usize) else {
        return Frame::Truncated;
    };
    if checksum(len_bytes, payload) != crc {
        return Frame::BadChecksum;
    }
    Frame::Valid {
        payload,
        next: start + len as usize,
    }
}

/// Decode a payload whose checksum already passed. A failure here means the
/// bytes were written by something else (or a checksum collision).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} trailing bytes after the record", rest.len())),
        Err(e) => Err(format!("cannot decode record: {e}")),
    }
}

/// Decode a file that must hold exactly one record, as the stable-state,
/// identity and snapshot files do.
pub fn decode_single<T: DeserializeOwned>(buf: &[u8]) -> Result<T, (u64, String)> {
    match read_at(buf, 0) {
        Frame::Valid { payload, next } => {
            if next != buf.len() {
                return Err((
                    next as u64,
                    format!("{} unexpected bytes after the record", buf.len() - next),
                ));
            }
            decode(payload).map_err(|e| (HEADER_LEN as u64, e))
        }
        Frame::Truncated => Err((
            0,
            format!("file of {} bytes holds no whole record", buf.len()),
        )),
        Frame::BadLength(len) => Err((0, format!("impossible record length {len}"))),
        Frame::BadChecksum => Err((0, "checksum mismatch".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&value.to_string(), &mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_records_back_to_back() {
        let mut buf = framed("one");
        buf.extend(framed("two"));
        let Frame::Valid { payload, next } = read_at(&buf, 0) else {
            panic!("first record unreadable");
        };
        assert_eq!(decode::<String>(payload).unwrap(), "one");
        let Frame::Valid { payload, next } = read_at(&buf, next) else {
            panic!("second record unreadable");
        };
        assert_eq!(decode::<String>(payload).unwrap(), "two");
        assert_eq!(next, buf.len());
        assert_eq!(read_at(&buf, next), Frame::Truncated);
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let buf = framed("a payload worth protecting");
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    !matches!(read_at(&bad, 0), Frame::Valid { .. }),
                    "flip of bit {bit} in byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn every_strict_prefix_is_truncated_or_bad() {
        let buf = framed("some record");
        for cut in 0..buf.len() {
            assert!(
                !matches!(read_at(&buf[..cut], 0), Frame::Valid { .. }),
                "prefix of {cut} bytes read as valid"
            );
        }
        assert_eq!(read_at(&buf[..3], 0), Frame::Truncated);
        assert_eq!(read_at(&buf[..buf.len() - 1], 0), Frame::Truncated);
    }

    #[test]
    fn zeros_and_huge_lengths_are_bad_lengths() {
        assert_eq!(read_at(&[0u8; 64], 0), Frame::BadLength(0));
        let mut huge = vec![0xff; 64];
        huge[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(read_at(&huge, 0), Frame::BadLength(u32::MAX));
    }

    #[test]
    fn single_record_files_reject_trailing_bytes() {
        let mut buf = framed("x");
        assert_eq!(decode_single::<String>(&buf).unwrap(), "x");
        buf.push(0);
        assert!(decode_single::<String>(&buf).is_err());
        assert!(decode_single::<String>(&[]).is_err());
    }
}
