//! Reading blob content as a stream: the pieces of a byte range, read from the segments in
//! bounded chunks, holes served as zeros. Memory stays at one chunk per reader however
//! large the blob.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream};

use super::model::{BlobBody, BlobVersion};
use super::pagemap::{DataLocation, Piece, PAGE_SIZE};
use super::pins::ReadPin;
use super::segments::Segments;

/// Most bytes read from a segment in one step.
const READ_CHUNK: u64 = 1 << 20;
static ZEROS: [u8; READ_CHUNK as usize] = [0; READ_CHUNK as usize];

/// An inclusive byte range, as HTTP `Range` and `x-ms-range` give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn byte_count(&self) -> u64 {
        self.end + 1 - self.start
    }
}

/// One blob version captured for reading.
#[derive(Debug)]
pub struct BlobRead {
    pub version: BlobVersion,
    segments: Arc<Segments>,
    pin: ReadPin,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    Data { at: DataLocation, len: u64 },
    Zeros { len: u64 },
}

impl BlobRead {
    pub(super) fn new(version: BlobVersion, segments: Arc<Segments>, pin: ReadPin) -> Self {
        Self {
            version,
            segments,
            pin,
        }
    }

    /// Streams `range` (inclusive, within the blob) of the content.
    pub fn into_stream(self, range: ByteRange) -> impl Stream<Item = io::Result<Bytes>> + Send {
        let chunks = plan(&self.version.body, range);
        let segments = self.segments;
        let pin = self.pin;
        stream::iter(chunks).then(move |chunk| {
            let segments = segments.clone();
            // The pin lives as long as the stream: data stays until the last chunk is read.
            let _pin = &pin;
            async move {
                match chunk {
                    Chunk::Zeros { len } => Ok(Bytes::from_static(&ZEROS[..len as usize])),
                    Chunk::Data { at, len } => tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; len as usize];
                        segments.read_at(at, &mut buf).map(|()| Bytes::from(buf))
                    })
                    .await
                    .map_err(io::Error::other)?,
                }
            }
        })
    }
}

use futures_util::StreamExt;

/// The chunks (each at most `READ_CHUNK`) that make up `range` of a body.
fn plan(body: &BlobBody, range: ByteRange) -> Vec<Chunk> {
    let mut pieces: Vec<(Option<DataLocation>, u64)> = Vec::new();
    match body {
        BlobBody::Page { pages, .. } => {
            let first_page = range.start / PAGE_SIZE;
            let last_page = range.end / PAGE_SIZE;
            let mut skip = range.start - first_page * PAGE_SIZE;
            let mut remaining = range.byte_count();
            for piece in pages.read(first_page, last_page + 1 - first_page) {
                let (at, len) = match piece {
                    Piece::Data { data, pages } => (Some(data), pages * PAGE_SIZE),
                    Piece::Zeros { pages } => (None, pages * PAGE_SIZE),
                };
                let take_from = skip.min(len);
                skip -= take_from;
                let len = (len - take_from).min(remaining);
                if len == 0 {
                    continue;
                }
                remaining -= len;
                let at = at.map(|a| DataLocation {
                    segment: a.segment,
                    offset: a.offset + take_from,
                });
                pieces.push((at, len));
            }
        }
        BlobBody::Block { blocks } => {
            let mut offset = 0u64;
            for block in blocks {
                let (block_start, block_end) = (offset, offset + block.extent.len);
                offset = block_end;
                let start = block_start.max(range.start);
                let end = block_end.min(range.end + 1);
                if start < end {
                    let at = DataLocation {
                        segment: block.extent.at.segment,
                        offset: block.extent.at.offset + (start - block_start),
                    };
                    pieces.push((Some(at), end - start));
                }
            }
        }
    }
    let mut chunks = Vec::new();
    for (at, len) in pieces {
        let mut done = 0;
        while done < len {
            let step = (len - done).min(READ_CHUNK);
            chunks.push(match at {
                Some(a) => Chunk::Data {
                    at: DataLocation {
                        segment: a.segment,
                        offset: a.offset + done,
                    },
                    len: step,
                },
                None => Chunk::Zeros { len: step },
            });
            done += step;
        }
    }
    chunks
}
