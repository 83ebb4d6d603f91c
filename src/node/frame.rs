//! Messages on a byte stream: each one a frame of a 4-byte big-endian length
//! and a postcard payload, through tokio-util's `LengthDelimitedCodec`.
//!
//! Every way a peer can send garbage (a length over the limit, bytes that do
//! not decode, a stream cut inside a frame) comes back as a [`FrameError`],
//! so the caller drops that one connection and carries on.

use std::io;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// The largest frame either side accepts. Raft batches are bounded by
/// `max_append_entries` and snapshot chunks by `max_snapshot_chunk`, so a
/// bigger frame is a broken or hostile peer.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of more than {max} bytes")]
    TooLarge { max: usize },
    #[error("undecodable frame of {len} bytes: {source}")]
    Decode {
        len: usize,
        #[source]
        source: postcard::Error,
    },
    #[error("unencodable message: {0}")]
    Encode(#[source] postcard::Error),
    #[error("connection closed inside a frame")]
    Truncated,
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
}

impl FrameError {
    fn from_codec(e: io::Error, max: usize) -> FrameError {
        let too_large = e
            .get_ref()
            .is_some_and(|inner| inner.is::<tokio_util::codec::LengthDelimitedCodecError>());
        if too_large {
            FrameError::TooLarge { max }
        } else if e.kind() == io::ErrorKind::UnexpectedEof
            || e.to_string().contains("bytes remaining on stream")
        {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    }
}

fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .max_frame_length(max)
        .new_codec()
}

/// Reads messages of type `T` from a byte stream.
pub struct FrameReader<R> {
    inner: FramedRead<R, LengthDelimitedCodec>,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        Self::with_max(io, MAX_FRAME_BYTES)
    }

    pub fn with_max(io: R, max: usize) -> Self {
        FrameReader {
            inner: FramedRead::new(io, codec(max)),
            max,
        }
    }

    /// The next message, or `None` when the peer closed the stream cleanly
    /// between frames.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        match self.inner.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(FrameError::from_codec(e, self.max)),
            Some(Ok(buf)) => {
                postcard::from_bytes(&buf)
                    .map(Some)
                    .map_err(|source| FrameError::Decode {
                        len: buf.len(),
                        source,
                    })
            }
        }
    }
}

/// Writes messages to a byte stream, one frame each, flushed.
pub struct FrameWriter<W> {
    inner: FramedWrite<W, LengthDelimitedCodec>,
    max: usize,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(io: W) -> Self {
        Self::with_max(io, MAX_FRAME_BYTES)
    }

    pub fn with_max(io: W, max: usize) -> Self {
        FrameWriter {
            inner: FramedWrite::new(io, codec(max)),
            max,
        }
    }

    /// Encode and send one message. An oversized message is refused before
    /// anything is written, so the stream stays usable.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), FrameError> {
        let bytes = postcard::to_stdvec(msg).map_err(FrameError::Encode)?;
        if bytes.len() > self.max {
            return Err(FrameError::TooLarge { max: self.max });
        }
        self.inner
            .send(Bytes::from(bytes))
            .await
            .map_err(|e| FrameError::from_codec(e, self.max))
    }

    /// Close the write side (a FIN on TCP).
    pub async fn close(&mut self) -> Result<(), FrameError> {
        SinkExt::<Bytes>::close(&mut self.inner)
            .await
            .map_err(FrameError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tokio_test::io::Builder;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Ping(u64),
        Data(Vec<u8>),
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn encoded(msg: &Msg) -> Vec<u8> {
        frame(&postcard::to_stdvec(msg).unwrap())
    }

    #[tokio::test]
    async fn reads_frames_split_across_reads() {
        let a = encoded(&Msg::Ping(7));
        let b = encoded(&Msg::Data(vec![1, 2, 3]));
        let mut both = a.clone();
        both.extend_from_slice(&b);
        // Deliver the bytes in awkward pieces: inside the length, inside the payload.
        let mock = Builder::new()
            .read(&both[..2])
            .read(&both[2..a.len() + 3])
            .read(&both[a.len() + 3..])
            .build();
        let mut r = FrameReader::new(mock);
        assert_eq!(r.recv::<Msg>().await.unwrap(), Some(Msg::Ping(7)));
        assert_eq!(
            r.recv::<Msg>().await.unwrap(),
            Some(Msg::Data(vec![1, 2, 3]))
        );
        assert_eq!(r.recv::<Msg>().await.unwrap(), None);
    }

    #[tokio::test]
    async fn writes_length_prefixed_postcard() {
        let msg = Msg::Data(vec![9; 5]);
        let mock = Builder::new().write(&encoded(&msg)).build();
        let mut w = FrameWriter::new(mock);
        w.send(&msg).await.unwrap();
    }

    #[tokio::test]
    async fn oversized_length_is_an_error_not_an_allocation() {
        let mock = Builder::new().read(&u32::MAX.to_be_bytes()).build();
        let mut r = FrameReader::with_max(mock, 1024);
        assert!(matches!(
            r.recv::<Msg>().await,
            Err(FrameError::TooLarge { max: 1024 })
        ));
    }

    #[tokio::test]
    async fn oversized_message_is_refused_before_writing() {
        // The mock expects no write at all: writing anything would panic it.
        let mock = Builder::new().build();
        let mut w = FrameWriter::with_max(mock, 8);
        assert!(matches!(
            w.send(&Msg::Data(vec![0; 64])).await,
            Err(FrameError::TooLarge { max: 8 })
        ));
    }

    #[tokio::test]
    async fn garbage_payload_is_a_decode_error() {
        // Variant tag 200 does not exist in `Msg`.
        let mock = Builder::new().read(&frame(&[200, 1, 2])).build();
        let mut r = FrameReader::new(mock);
        match r.recv::<Msg>().await {
            Err(FrameError::Decode { len: 3, .. }) => {}
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn stream_cut_inside_a_frame_is_truncated() {
        let full = encoded(&Msg::Data(vec![1; 10]));
        let mock = Builder::new().read(&full[..full.len() - 4]).build();
        let mut r = FrameReader::new(mock);
        match r.recv::<Msg>().await {
            Err(FrameError::Truncated) => {}
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn io_errors_surface() {
        let mock = Builder::new()
            .read_error(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            .build();
        let mut r = FrameReader::new(mock);
        assert!(matches!(r.recv::<Msg>().await, Err(FrameError::Io(_))));

        let msg = Msg::Ping(1);
        let mock = Builder::new()
            .write_error(io::Error::new(io::ErrorKind::BrokenPipe, "pipe"))
            .build();
        let mut w = FrameWriter::new(mock);
        assert!(matches!(w.send(&msg).await, Err(FrameError::Io(_))));
    }
}
