//! The extension's storage calls, as the real one makes them (spec §3.5, §4, §8): disk
//! snapshots through each disk's SAS, and the status and log blobs written under the
//! extension's rules. Only the SAS in the query authorises a call: no `x-ms-version`, no
//! `x-ms-date`, no `Authorization`.
//!
//! Unlike the real extension, calls go to the URL as given (the service's blob endpoint,
//! plain HTTP on its port); the real one always speaks HTTPS on 443.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::header::CONTENT_LENGTH;
use reqwest::StatusCode;
use tokio::task::JoinSet;
use vaultsim_protocol::extension::codes::{
    SNAPSHOT_FAILED_NO_NETWORK, SNAPSHOT_FAILED_RESTRICTED_NETWORK, SNAPSHOT_LIMIT_REACHED,
    SNAPSHOT_RATE_EXCEEDED, SUCCESS,
};
use vaultsim_protocol::extension::settings::KeyValue;
use vaultsim_protocol::extension::status::SnapshotInfo;
use vaultsim_protocol::page_blob::{MAX_PUT_PAGE_BYTES, PAGE_SIZE};

/// The extension's timeout for a storage call.
pub const STORAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of a status or log upload.
const UPLOAD_TRIES: usize = 3;
/// A page blob keeps only the last 10 MiB of the text.
const PAGE_BLOB_TEXT_LIMIT: usize = 10 << 20;

const RATE_EXCEEDED: &str = "The rate of snapshot blob calls is exceeded";
const SNAPSHOT_COUNT_EXCEEDED: &str = "The snapshot count against this blob has been exceeded";

/// The code a set of disk snapshots gives (`updateErrorCode`), with the health status code.
pub fn snapshot_code(snapshots: &[SnapshotInfo]) -> (u32, u32) {
    let failed: Vec<&SnapshotInfo> = snapshots.iter().filter(|s| !s.is_successful).collect();
    let says = |text: &str| {
        failed
            .iter()
            .any(|s| s.error_message.as_deref().is_some_and(|m| m.contains(text)))
    };
    if failed.is_empty() && !snapshots.is_empty() {
        (SUCCESS, SUCCESS)
    } else if says(RATE_EXCEEDED) {
        (SNAPSHOT_RATE_EXCEEDED, SNAPSHOT_RATE_EXCEEDED)
    } else if says(SNAPSHOT_COUNT_EXCEEDED) {
        (SNAPSHOT_LIMIT_REACHED, SNAPSHOT_LIMIT_REACHED)
    } else if failed.len() == snapshots.len() {
        (SNAPSHOT_FAILED_NO_NETWORK, SNAPSHOT_FAILED_NO_NETWORK)
    } else {
        (
            SNAPSHOT_FAILED_NO_NETWORK,
            SNAPSHOT_FAILED_RESTRICTED_NETWORK,
        )
    }
}

/// `PUT <sas>&comp=snapshot` for every disk at once, with `x-ms-meta-<Key>` per backup
/// metadata entry; no retry. The outcomes are in SAS URL order.
pub async fn snapshot_disks(
    http: &reqwest::Client,
    sas_uris: &[String],
    metadata: &[KeyValue],
) -> Vec<SnapshotInfo> {
    let mut calls = JoinSet::new();
    for (index, sas_uri) in sas_uris.iter().enumerate() {
        let (http, sas_uri, metadata) = (http.clone(), sas_uri.clone(), metadata.to_vec());
        calls.spawn(async move { (index, snapshot_disk(&http, &sas_uri, &metadata).await) });
    }
    let mut outcomes: Vec<Option<SnapshotInfo>> = vec![None; sas_uris.len()];
    while let Some(joined) = calls.join_next().await {
        if let Ok((index, info)) = joined {
            outcomes[index] = Some(info);
        }
    }
    outcomes
        .into_iter()
        .zip(sas_uris)
        .map(|(outcome, sas_uri)| {
            outcome
                .unwrap_or_else(|| failed_snapshot(blob_uri(sas_uri), "the snapshot call panicked"))
        })
        .collect()
}

async fn snapshot_disk(
    http: &reqwest::Client,
    sas_uri: &str,
    metadata: &[KeyValue],
) -> SnapshotInfo {
    let blob_uri = blob_uri(sas_uri);
    let mut request = http
        .put(format!("{sas_uri}&comp=snapshot"))
        .header(CONTENT_LENGTH, "0")
        .timeout(STORAGE_TIMEOUT);
    for entry in metadata {
        request = request.header(format!("x-ms-meta-{}", entry.key), &entry.value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return failed_snapshot(blob_uri, &without_url(&error)),
    };
    match response.status() {
        StatusCode::OK | StatusCode::CREATED => {
            let Some(snapshot) = response
                .headers()
                .get("x-ms-snapshot")
                .and_then(|v| v.to_str().ok())
            else {
                return failed_snapshot(blob_uri, "the response has no x-ms-snapshot");
            };
            SnapshotInfo {
                is_successful: true,
                snapshot_uri: Some(format!("{blob_uri}?snapshot={snapshot}")),
                error_message: None,
                blob_uri: Some(blob_uri),
                direct_drive_snapshot_identifier: None,
            }
        }
        _ => {
            let body = response.text().await.unwrap_or_default();
            failed_snapshot(blob_uri, &body)
        }
    }
}

/// A disk whose snapshot was not taken, with why.
pub fn failed_snapshot(blob_uri: String, message: &str) -> SnapshotInfo {
    SnapshotInfo {
        is_successful: false,
        snapshot_uri: Some(blob_uri.clone()),
        error_message: Some(message.to_owned()),
        blob_uri: Some(blob_uri),
        direct_drive_snapshot_identifier: None,
    }
}

/// The URL without its query, where the SAS signature lives.
pub fn blob_uri(sas_uri: &str) -> String {
    sas_uri.split('?').next().unwrap_or_default().to_owned()
}

/// reqwest's error text without the URL it names (which carries the SAS).
fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(start) = error.find("http") {
        let end = error[start..]
            .find([' ', ')'])
            .map_or(error.len(), |end| start + end);
        error.replace_range(start..end, "<blob>");
    }
    error
}

/// Why a status or log upload failed; messages never quote the SAS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("the blob could not be read first: {0}")]
    Probe(String),
    #[error("the block blob is not empty, so the extension does not overwrite it")]
    NotEmpty,
    #[error("the write failed after {UPLOAD_TRIES} tries: {0}")]
    Write(String),
}

/// Writes the status and log blobs of one run, remembering which block blobs the first
/// GET found empty (the real extension caches that per process).
#[derive(Default)]
pub struct BlobWriter {
    writable_block_blobs: HashSet<String>,
}

enum BlobKind {
    Block,
    Page { size: u64 },
}

impl BlobWriter {
    /// Uploads `text` to the blob at `sas_uri`, replacing what is there: a block blob only
    /// if it was empty when first seen, a page blob always (space-padded to 512 bytes).
    pub async fn upload(
        &mut self,
        http: &reqwest::Client,
        sas_uri: &str,
        text: &[u8],
    ) -> Result<(), UploadError> {
        let kind = if self.writable_block_blobs.contains(sas_uri) {
            BlobKind::Block
        } else {
            let kind = probe(http, sas_uri).await?;
            if matches!(kind, BlobKind::Block) {
                self.writable_block_blobs.insert(sas_uri.to_owned());
            }
            kind
        };
        let mut last_error = String::new();
        for _ in 0..UPLOAD_TRIES {
            let written = match kind {
                BlobKind::Block => put_block_blob(http, sas_uri, text).await,
                BlobKind::Page { size } => write_page_blob(http, sas_uri, size, text).await,
            };
            match written {
                Ok(()) => return Ok(()),
                Err(error) => last_error = error,
            }
        }
        Err(UploadError::Write(last_error))
    }
}

/// The first GET: its type, and for a block blob whether it is empty.
async fn probe(http: &reqwest::Client, sas_uri: &str) -> Result<BlobKind, UploadError> {
    let response = http
        .get(sas_uri)
        .timeout(STORAGE_TIMEOUT)
        .send()
        .await
        .map_err(|e| UploadError::Probe(without_url(&e)))?;
    if response.status() != StatusCode::OK {
        return Err(UploadError::Probe(format!(
            "GET answered {}",
            response.status()
        )));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match header("x-ms-blob-type").as_deref() {
        Some("PageBlob") => Ok(BlobKind::Page {
            size: header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
        }),
        Some("BlockBlob") if header("content-length").as_deref() == Some("0") => {
            Ok(BlobKind::Block)
        }
        Some("BlockBlob") => Err(UploadError::NotEmpty),
        _ => Err(UploadError::Probe(
            "the blob has no x-ms-blob-type".to_owned(),
        )),
    }
}

async fn put_block_blob(http: &reqwest::Client, sas_uri: &str, text: &[u8]) -> Result<(), String> {
    let response = http
        .put(sas_uri)
        .header("x-ms-blob-type", "BlockBlob")
        .body(text.to_vec())
        .timeout(STORAGE_TIMEOUT)
        .send()
        .await
        .map_err(|e| without_url(&e))?;
    match response.status() {
        StatusCode::OK | StatusCode::CREATED => Ok(()),
        other => Err(format!("PUT answered {other}")),
    }
}

/// The page blob rule: clear the whole blob, grow it if the text needs more room, then
/// write the space-padded text in updates of at most 4 MiB.
async fn write_page_blob(
    http: &reqwest::Client,
    sas_uri: &str,
    size: u64,
    text: &[u8],
) -> Result<(), String> {
    let text = &text[text.len().saturating_sub(PAGE_BLOB_TEXT_LIMIT)..];
    let mut padded = text.to_vec();
    let page = PAGE_SIZE as usize;
    padded.resize(text.len().div_ceil(page).max(1) * page, b' ');
    let page_request = |range_end: u64, write: &'static str| {
        http.put(format!("{sas_uri}&comp=page"))
            .header("x-ms-page-write", write)
            .header("x-ms-range", format!("bytes=0-{range_end}"))
            .timeout(STORAGE_TIMEOUT)
    };
    if size > 0 {
        expect_created(
            page_request(size - 1, "clear")
                .header(CONTENT_LENGTH, "0")
                .send()
                .await,
        )?;
    }
    let needed = padded.len() as u64;
    if needed > size {
        // `Content-Length: N` with no body, as the extension sends it (spec §8).
        let response = http
            .put(format!("{sas_uri}&comp=properties"))
            .header("x-ms-blob-content-length", needed.to_string())
            .header(CONTENT_LENGTH, needed.to_string())
            .timeout(STORAGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| without_url(&e))?;
        if response.status() != StatusCode::OK {
            return Err(format!("resize answered {}", response.status()));
        }
    }
    let write_limit = MAX_PUT_PAGE_BYTES as usize;
    for (index, chunk) in padded.chunks(write_limit).enumerate() {
        let start = (index * write_limit) as u64;
        let end = start + chunk.len() as u64 - 1;
        expect_created(
            http.put(format!("{sas_uri}&comp=page"))
                .header("x-ms-page-write", "update")
                .header("x-ms-range", format!("bytes={start}-{end}"))
                .body(chunk.to_vec())
                .timeout(STORAGE_TIMEOUT)
                .send()
                .await,
        )?;
    }
    Ok(())
}

fn expect_created(sent: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    let response = sent.map_err(|e| without_url(&e))?;
    match response.status() {
        StatusCode::CREATED | StatusCode::OK => Ok(()),
        other => Err(format!("Put Page answered {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(ok: bool, message: Option<&str>) -> SnapshotInfo {
        SnapshotInfo {
            is_successful: ok,
            snapshot_uri: None,
            error_message: message.map(str::to_owned),
            blob_uri: None,
            direct_drive_snapshot_identifier: None,
        }
    }

    #[test]
    fn snapshot_outcomes_map_to_the_extensions_codes() {
        assert_eq!(snapshot_code(&[disk(true, None), disk(true, None)]), (1, 1));
        assert_eq!(
            snapshot_code(&[disk(false, Some("403")), disk(false, None)]),
            (76, 76)
        );
        assert_eq!(
            snapshot_code(&[disk(true, None), disk(false, None)]),
            (76, 761)
        );
        assert_eq!(
            snapshot_code(&[disk(
                false,
                Some(&format!("<Error>{RATE_EXCEEDED}.</Error>"))
            )]),
            (173, 173)
        );
        assert_eq!(
            snapshot_code(&[disk(true, None), disk(false, Some(SNAPSHOT_COUNT_EXCEEDED))]),
            (85, 85)
        );
        assert_eq!(
            snapshot_code(&[]),
            (76, 76),
            "no disk to snapshot is a failure"
        );
    }

    #[test]
    fn error_texts_lose_the_url_and_its_signature() {
        let url = "http://127.0.0.1:1/devstoreaccount1/c/b?sv=2020&sig=SECRET";
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime
            .block_on(reqwest::Client::new().get(url).send())
            .unwrap_err();
        let text = without_url(&error);
        assert!(!text.contains("SECRET"), "{text}");
    }
}
