//! Receiving a request body into blob storage: frame by frame, straight into the space the
//! engine reserved, so a large body is never held in memory nor copied twice.

use axum::body::Body;
use axum::http::StatusCode;
use futures_util::StreamExt;
use md5::{Digest, Md5};

use crate::blob::engine::{BlobStore, StoreError, Upload};

use super::error::BlobApiError;

/// Frames smaller than this are written inline; larger ones on the blocking pool.
const INLINE_WRITE: usize = 64 << 10;

/// What to do about the body's MD5.
#[derive(Debug, Clone)]
pub enum Md5Check {
    /// Neither needed nor checked (Put Page without `Content-MD5`: hashing costs more
    /// than the write).
    Skip,
    /// Compute it (to store or return), and compare it when the client sent one.
    Compute { expected: Option<Vec<u8>> },
}

/// Streams `body` into fresh storage. It must be exactly `len` bytes.
/// Returns the upload and, when computed, the body's MD5.
pub async fn receive(
    store: &BlobStore,
    body: Body,
    len: u64,
    md5: Md5Check,
) -> Result<(Upload, Option<Vec<u8>>), BlobApiError> {
    let mut upload = store.begin_upload(len);
    let (mut digest, expected) = match md5 {
        Md5Check::Skip => (None, None),
        Md5Check::Compute { expected } => (Some(Md5::new()), expected),
    };
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|_| {
            BlobApiError::invalid_input(
                "The request body could not be read completely: it is shorter than announced or the connection broke.",
            )
        })?;
        if upload.written() + frame.len() as u64 > upload.reserved() {
            return Err(length_mismatch());
        }
        if frame.len() <= INLINE_WRITE {
            if let Some(d) = digest.as_mut() {
                d.update(&frame);
            }
            upload.write(&frame).map_err(StoreError::from)?;
        } else {
            (upload, digest) = tokio::task::spawn_blocking(move || {
                if let Some(d) = digest.as_mut() {
                    d.update(&frame);
                }
                upload.write(&frame).map(|()| (upload, digest))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|written| written)
            .map_err(StoreError::from)?;
        }
    }
    if !upload.is_complete() {
        return Err(length_mismatch());
    }
    let computed = digest.map(|d| d.finalize().to_vec());
    if let (Some(expected), Some(computed)) = (&expected, &computed) {
        if expected != computed {
            return Err(BlobApiError::new(
                StatusCode::BAD_REQUEST,
                "Md5Mismatch",
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
            ));
        }
    }
    Ok((upload, computed))
}

fn length_mismatch() -> BlobApiError {
    BlobApiError::invalid_input("The request body length does not match the Content-Length header.")
}
