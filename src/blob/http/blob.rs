//! Blob operations common to block and page blobs, plus the block blob uploads.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use vaultsim_protocol::blob_xml::{Block, BlockList, Blocks};

use crate::blob::engine::{
    BlockListType, ByteRange, ContentProperties, NewPageBlob, SequenceNumberAction, Upload,
    WriteAck,
};

use super::error::BlobApiError;
use super::headers::{self, put};
use super::upload::{self, Md5Check};
use super::xml::parse_block_list;
use super::{empty, small_body, xml_response, BlobRequest};

/// Largest single Put Blob of a block blob (version 2019-12-12 and later).
const MAX_PUT_BLOB: u64 = 5000 << 20;
/// Largest Put Block.
const MAX_PUT_BLOCK: u64 = 4000 << 20;
const MAX_BLOCK_LIST_BODY: usize = 8 << 20;
/// Largest range for which `x-ms-range-get-content-md5` is honoured.
const MAX_RANGE_MD5: u64 = 4 << 20;

fn ack_response(status: StatusCode, ack: &WriteAck) -> Response {
    let mut response = empty(status);
    headers::write_ack(response.headers_mut(), ack.etag, ack.modified);
    if let Some(seq) = ack.sequence_number {
        put(
            response.headers_mut(),
            "x-ms-blob-sequence-number",
            seq.to_string(),
        );
    }
    response
}

fn content_length(request: &BlobRequest) -> Result<u64, BlobApiError> {
    headers::number(request.headers(), "content-length")?.ok_or_else(|| {
        BlobApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLengthHeader",
            "Content-Length HTTP header is missing.",
        )
    })
}

/// Receives the body of a Put Blob or Put Block: at most `max` bytes, its MD5 computed
/// (to store and return) and checked against `Content-MD5` when sent.
async fn receive_block_body(
    request: BlobRequest,
    max: u64,
) -> Result<(Upload, Vec<u8>), BlobApiError> {
    let len = content_length(&request)?;
    if len > max {
        return Err(BlobApiError::body_too_large(max));
    }
    let expected = headers::md5_header(request.headers(), "content-md5")?;
    // Refuse early what would fail at commit, before taking the upload.
    request.store.container(request.container())?;
    let store = request.store.clone();
    let (upload, md5) =
        upload::receive(&store, request.body, len, Md5Check::Compute { expected }).await?;
    Ok((upload, md5.unwrap_or_default()))
}

pub async fn put_blob(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    if request.headers().contains_key("x-ms-copy-source") {
        return Err(BlobApiError::not_implemented("Copy Blob"));
    }
    let conditions = headers::conditions(request.headers())?;
    let metadata = request.metadata()?;
    let mut content = headers::content_properties(request.headers())?;
    // On Put Blob the standard headers also set the stored properties.
    fill_from_standard_headers(&request, &mut content)?;
    match headers::text(request.headers(), "x-ms-blob-type")? {
        Some("BlockBlob") => {
            let store = request.store.clone();
            let (container, blob) = (request.container().to_owned(), request.blob().to_owned());
            let (upload, md5) = receive_block_body(request, MAX_PUT_BLOB).await?;
            if content.content_md5.is_none() {
                content.content_md5 = Some(md5.clone());
            }
            let ack =
                store.put_block_blob(&container, &blob, upload, content, metadata, &conditions)?;
            let mut response = ack_response(StatusCode::CREATED, &ack);
            put(
                response.headers_mut(),
                "content-md5",
                base64::engine::general_purpose::STANDARD.encode(md5),
            );
            Ok(response)
        }
        Some("PageBlob") => {
            if content_length(&request).unwrap_or(0) != 0 {
                return Err(BlobApiError::invalid_header(
                    "Content-Length",
                    &content_length(&request)?.to_string(),
                    "Put Blob of a page blob carries no body.",
                ));
            }
            let size = headers::number(request.headers(), "x-ms-blob-content-length")?
                .ok_or_else(|| BlobApiError::missing_header("x-ms-blob-content-length"))?;
            let sequence_number =
                headers::number(request.headers(), "x-ms-blob-sequence-number")?.unwrap_or(0);
            let new = NewPageBlob {
                size,
                sequence_number,
                content,
                metadata,
            };
            let ack = request.store.create_page_blob(
                request.container(),
                request.blob(),
                new,
                &conditions,
            )?;
            Ok(ack_response(StatusCode::CREATED, &ack))
        }
        Some("AppendBlob") => Err(BlobApiError::not_implemented("An append blob")),
        Some(other) => Err(BlobApiError::invalid_header(
            "x-ms-blob-type",
            other,
            "Expected BlockBlob or PageBlob.",
        )),
        None => Err(BlobApiError::missing_header("x-ms-blob-type")),
    }
}

/// Put Blob takes `Content-Type` and friends when the `x-ms-blob-*` forms are absent.
fn fill_from_standard_headers(
    request: &BlobRequest,
    content: &mut ContentProperties,
) -> Result<(), BlobApiError> {
    let h = request.headers();
    for (slot, name) in [
        (&mut content.content_type, "content-type"),
        (&mut content.content_encoding, "content-encoding"),
        (&mut content.content_language, "content-language"),
        (&mut content.cache_control, "cache-control"),
    ] {
        if slot.is_none() {
            *slot = headers::text(h, name)?.map(str::to_owned);
        }
    }
    Ok(())
}

fn block_id(request: &BlobRequest) -> Result<String, BlobApiError> {
    let id = request
        .query
        .get("blockid")
        .ok_or_else(|| BlobApiError::invalid_query("blockid", "", "Put Block needs a blockid."))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(id)
        .map_err(|_| BlobApiError::invalid_query("blockid", id, "A block id is base64."))?;
    if decoded.is_empty() || decoded.len() > 64 {
        return Err(BlobApiError::invalid_query(
            "blockid",
            id,
            "A block id is 1 to 64 bytes before base64 encoding.",
        ));
    }
    Ok(id.to_owned())
}

pub async fn put_block(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    let id = block_id(&request)?;
    let store = request.store.clone();
    let (container, blob) = (request.container().to_owned(), request.blob().to_owned());
    let (upload, md5) = receive_block_body(request, MAX_PUT_BLOCK).await?;
    store.stage_block(&container, &blob, &id, upload)?;
    let mut response = empty(StatusCode::CREATED);
    put(
        response.headers_mut(),
        "content-md5",
        base64::engine::general_purpose::STANDARD.encode(md5),
    );
    put(
        response.headers_mut(),
        "x-ms-request-server-encrypted",
        "true",
    );
    Ok(response)
}

pub async fn put_block_list(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    let conditions = headers::conditions(request.headers())?;
    let metadata = request.metadata()?;
    let content = headers::content_properties(request.headers())?;
    let store = request.store.clone();
    let (container, blob) = (request.container().to_owned(), request.blob().to_owned());
    let body = small_body(request.body, MAX_BLOCK_LIST_BODY).await?;
    let list = parse_block_list(&body)?;
    let ack = store.put_block_list(&container, &blob, &list, content, metadata, &conditions)?;
    Ok(ack_response(StatusCode::CREATED, &ack))
}

pub fn get_block_list(request: BlobRequest) -> Result<Response, BlobApiError> {
    let which = match request.query.get("blocklisttype").unwrap_or("committed") {
        "committed" => BlockListType::Committed,
        "uncommitted" => BlockListType::Uncommitted,
        "all" => BlockListType::All,
        other => {
            return Err(BlobApiError::invalid_query(
                "blocklisttype",
                other,
                "Expected committed, uncommitted or all.",
            ))
        }
    };
    let (version, list) = request.store.block_list(request.address()?, which)?;
    let blocks = |list: &[(String, u64)]| Blocks {
        items: list
            .iter()
            .map(|(id, size)| Block {
                name: id.clone(),
                size: *size,
            })
            .collect(),
    };
    let document = BlockList {
        committed_blocks: (which != BlockListType::Uncommitted).then(|| blocks(&list.committed)),
        uncommitted_blocks: (which != BlockListType::Committed).then(|| blocks(&list.uncommitted)),
    };
    let mut response = xml_response(&document)?;
    if let Some(v) = version {
        let h = response.headers_mut();
        put(h, "etag", v.etag.to_string());
        put(h, "last-modified", v.modified.to_http_date());
        put(
            h,
            "x-ms-blob-content-length",
            v.body.content_length().to_string(),
        );
    }
    Ok(response)
}

pub fn snapshot(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    let conditions = headers::conditions(request.headers())?;
    let metadata = request.metadata()?;
    let replace = (!metadata.is_empty()).then_some(metadata);
    let (snapshot, ack) =
        request
            .store
            .snapshot(request.container(), request.blob(), replace, &conditions)?;
    let mut response = ack_response(StatusCode::CREATED, &ack);
    put(
        response.headers_mut(),
        "x-ms-snapshot",
        snapshot.to_snapshot_id(),
    );
    Ok(response)
}

/// Set Blob Properties: content headers, or for page blobs a resize
/// (`x-ms-blob-content-length`) or a sequence number action. It never reads a body: some
/// clients announce a Content-Length here and send nothing.
pub fn set_properties(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    let h = request.headers();
    let conditions = headers::conditions(h)?;
    let store = &request.store;
    let (container, blob) = (request.container(), request.blob());
    let resize = headers::number(h, "x-ms-blob-content-length")?;
    let action = headers::text(h, "x-ms-sequence-number-action")?;
    let mut ack = None;
    if let Some(size) = resize {
        ack = Some(store.resize_page_blob(container, blob, size, &conditions)?);
    }
    if let Some(action) = action {
        let number = headers::number(h, "x-ms-blob-sequence-number")?;
        let needs_number = |n: Option<u64>| {
            n.ok_or_else(|| BlobApiError::missing_header("x-ms-blob-sequence-number"))
        };
        let action = match action.to_ascii_lowercase().as_str() {
            "max" => SequenceNumberAction::Max(needs_number(number)?),
            "update" => SequenceNumberAction::Update(needs_number(number)?),
            "increment" => SequenceNumberAction::Increment,
            _ => {
                return Err(BlobApiError::invalid_header(
                    "x-ms-sequence-number-action",
                    action,
                    "Expected max, update or increment.",
                ))
            }
        };
        ack = Some(store.set_sequence_number(container, blob, action, &conditions)?);
    }
    let ack = match ack {
        Some(ack) => ack,
        None => {
            let content = headers::content_properties(h)?;
            store.set_blob_content_properties(container, blob, content, &conditions)?
        }
    };
    Ok(ack_response(StatusCode::OK, &ack))
}

pub fn set_metadata(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    let conditions = headers::conditions(request.headers())?;
    let metadata = request.metadata()?;
    let ack = request.store.set_blob_metadata(
        request.container(),
        request.blob(),
        metadata,
        &conditions,
    )?;
    let mut response = ack_response(StatusCode::OK, &ack);
    response.headers_mut().remove("x-ms-blob-sequence-number");
    Ok(response)
}

pub fn get_metadata(request: BlobRequest) -> Result<Response, BlobApiError> {
    let conditions = headers::conditions(request.headers())?;
    let read = request.store.read_blob(request.address()?, &conditions)?;
    let mut response = empty(StatusCode::OK);
    let h = response.headers_mut();
    put(h, "etag", read.version.etag.to_string());
    put(h, "last-modified", read.version.modified.to_http_date());
    headers::write_metadata(&mut response, &read.version.metadata);
    Ok(response)
}

/// Get Blob (`with_body`) and Get Blob Properties (HEAD).
pub async fn get(request: BlobRequest, with_body: bool) -> Result<Response, BlobApiError> {
    let conditions = headers::conditions(request.headers())?;
    let range = if with_body {
        headers::range(request.headers())?
    } else {
        None
    };
    let want_range_md5 =
        headers::text(request.headers(), "x-ms-range-get-content-md5")? == Some("true");
    let read = request.store.read_blob(request.address()?, &conditions)?;
    let size = read.version.body.content_length();
    let byte_range = match range {
        None => (size > 0).then(|| ByteRange {
            start: 0,
            end: size - 1,
        }),
        Some(r) if r.start >= size => {
            let mut error = BlobApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
            );
            error
                .headers
                .push((axum::http::header::CONTENT_RANGE, format!("bytes */{size}")));
            return Err(error);
        }
        Some(r) => Some(ByteRange {
            start: r.start,
            end: r.end.unwrap_or(u64::MAX).min(size - 1),
        }),
    };
    let length = byte_range.map_or(0, |r| r.byte_count());
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = empty(status);
    headers::write_blob_properties(&mut response, &read.version, range.is_none());
    put(response.headers_mut(), "content-length", length.to_string());
    if let (Some(r), true) = (byte_range, range.is_some()) {
        put(
            response.headers_mut(),
            "content-range",
            format!("bytes {}-{}/{size}", r.start, r.end),
        );
    }
    if !with_body {
        return Ok(response);
    }
    let Some(byte_range) = byte_range else {
        return Ok(response);
    };
    if want_range_md5 {
        if range.is_none() || length > MAX_RANGE_MD5 {
            return Err(BlobApiError::new(
                StatusCode::BAD_REQUEST,
                "OutOfRangeInput",
                "x-ms-range-get-content-md5 needs a range of at most 4 MiB.",
            ));
        }
        let mut data = Vec::with_capacity(length as usize);
        let mut stream = Box::pin(read.into_stream(byte_range));
        while let Some(chunk) = stream.next().await {
            data.extend_from_slice(&chunk.map_err(crate::blob::engine::StoreError::from)?);
        }
        put(
            response.headers_mut(),
            "content-md5",
            base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data)),
        );
        *response.body_mut() = Body::from(data);
        return Ok(response);
    }
    *response.body_mut() = Body::from_stream(read.into_stream(byte_range));
    Ok(response)
}

pub fn delete(request: BlobRequest) -> Result<Response, BlobApiError> {
    let conditions = headers::conditions(request.headers())?;
    let at = request.address()?;
    let snapshots = match headers::text(request.headers(), "x-ms-delete-snapshots")? {
        None => None,
        Some(_) if at.snapshot.is_some() => {
            return Err(BlobApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidQueryParameterValue",
                "x-ms-delete-snapshots cannot be combined with a snapshot query parameter.",
            ))
        }
        Some("include") => Some(true),
        Some("only") => Some(false),
        Some(other) => {
            return Err(BlobApiError::invalid_header(
                "x-ms-delete-snapshots",
                other,
                "Expected include or only.",
            ))
        }
    };
    request.store.delete_blob(at, snapshots, &conditions)?;
    let mut response = empty(StatusCode::ACCEPTED);
    put(response.headers_mut(), "x-ms-delete-type-permanent", "true");
    Ok(response)
}
