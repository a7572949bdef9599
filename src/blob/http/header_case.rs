//! User metadata names keep the case the client gave them.
//!
//! Azure stores `x-ms-meta-vmName` as `vmName` and returns it so; the SDKs hand those names
//! to users verbatim. HTTP header names are case-insensitive and hyper lower-cases them in
//! both directions, so this module works on the bytes of the connection: it records how
//! each request spelled its `x-ms-meta-*` names, and on the way out rewrites the names of
//! a response's metadata headers to the stored spelling. Only letter case changes, never a
//! length, so framing is untouched. When it meets anything it does not follow (a chunked
//! request body, an oversized head) it stops rewriting for that connection and names stay
//! lower-case, as before.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const META_PREFIX: &[u8] = b"x-ms-meta-";
/// A request head larger than this is not followed.
const MAX_HEAD: usize = 256 << 10;
/// Marks a response whose body is chunked: after its head the connection is not followed.
const CHUNKED: u64 = u64::MAX;

/// The `x-ms-meta-*` header names of a request, spelled as received (request extension).
#[derive(Debug, Clone, Default)]
pub struct RequestMetadataNames(pub Vec<String>);

impl RequestMetadataNames {
    /// The name as the client spelled it, for a metadata key hyper lower-cased.
    pub fn original<'a>(&'a self, lower: &'a str) -> &'a str {
        self.0
            .iter()
            .filter_map(|n| n.get(META_PREFIX.len()..))
            .find(|n| n.eq_ignore_ascii_case(lower))
            .unwrap_or(lower)
    }
}

/// The metadata keys whose response headers should go out in this spelling (response
/// extension, set by handlers that return metadata).
#[derive(Debug, Clone, Default)]
pub struct ResponseMetadataNames(pub Vec<String>);

/// What the connection's writer needs to know about each response, in order.
#[derive(Debug)]
pub struct ResponsePlan {
    pub names: Vec<String>,
    /// HEAD responses carry no body whatever their Content-Length says.
    pub head_request: bool,
}

/// The queues shared between a connection's bytes and the requests served on it.
#[derive(Debug, Default)]
pub struct ConnectionNames {
    requests: Mutex<VecDeque<Vec<String>>>,
    responses: Mutex<VecDeque<ResponsePlan>>,
}

impl ConnectionNames {
    /// The names of the next request's head (heads are read before their request is served).
    pub fn next_request(&self) -> RequestMetadataNames {
        RequestMetadataNames(self.requests.lock().pop_front().unwrap_or_default())
    }

    /// Queues the plan of the next response (responses are written in request order).
    pub fn push_response(&self, plan: ResponsePlan) {
        self.responses.lock().push_back(plan);
    }
}

/// A connection whose header name spelling is tracked in both directions.
pub struct CaseKeepingStream<S> {
    inner: S,
    names: Arc<ConnectionNames>,
    reading: Inbound,
    writing: Outbound,
}

enum Inbound {
    Head(Vec<u8>),
    Body(u64),
    Off,
}

enum Outbound {
    /// At (or inside) a response head; `rewritten` holds it once seen whole, `done` is
    /// how much of it is written.
    Head {
        rewritten: Option<(Vec<u8>, u64)>,
        done: usize,
    },
    Body(u64),
    Off,
}

impl<S> CaseKeepingStream<S> {
    pub fn new(inner: S, names: Arc<ConnectionNames>) -> Self {
        Self {
            inner,
            names,
            reading: Inbound::Head(Vec::new()),
            writing: Outbound::Head {
                rewritten: None,
                done: 0,
            },
        }
    }

    /// Follows request framing over freshly read bytes, queueing each head's names. Body
    /// bytes are only counted, never copied.
    fn scan_inbound(&mut self, bytes: &[u8]) {
        let mut pos = 0;
        while pos < bytes.len() {
            match &mut self.reading {
                Inbound::Off => return,
                Inbound::Body(remaining) => {
                    let skip = (*remaining).min((bytes.len() - pos) as u64);
                    *remaining -= skip;
                    pos += skip as usize;
                    if *remaining == 0 {
                        self.reading = Inbound::Head(Vec::new());
                    }
                }
                Inbound::Head(head) => {
                    if head.is_empty() {
                        // Empty lines may precede a request line.
                        while pos < bytes.len() && matches!(bytes[pos], b'\r' | b'\n') {
                            pos += 1;
                        }
                        if pos == bytes.len() {
                            return;
                        }
                    }
                    let search_from = head.len().saturating_sub(3);
                    head.extend_from_slice(&bytes[pos..]);
                    let Some(end) = find_head_end(&head[search_from..]).map(|e| search_from + e)
                    else {
                        if head.len() > MAX_HEAD {
                            self.reading = Inbound::Off;
                        }
                        return;
                    };
                    let mut head = std::mem::take(head);
                    let parsed = parse_head(&head[..end]);
                    self.names.requests.lock().push_back(parsed.meta_names);
                    self.reading = match (parsed.chunked, parsed.content_length) {
                        (true, _) => Inbound::Off,
                        (false, 0) => Inbound::Head(Vec::new()),
                        (false, n) => Inbound::Body(n),
                    };
                    // What followed the head in this read: body, or the next request.
                    let rest = head.split_off(end);
                    self.scan_inbound(&rest);
                    return;
                }
            }
        }
    }

    /// The rewritten head of the response that starts at `buf`, and its body length, or
    /// `None` when `buf` does not hold the whole head.
    fn plan_response(&self, buf: &[u8]) -> Option<(Vec<u8>, u64, bool)> {
        let end = find_head_end(buf)?;
        let mut head = buf[..end].to_vec();
        let status: u16 = std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()?;
        if (100..200).contains(&status) {
            // An interim response (100 Continue) answers no request of its own.
            return Some((head, 0, false));
        }
        let plan = self.names.responses.lock().pop_front();
        let parsed = parse_head(&head);
        if let Some(plan) = &plan {
            restore_names(&mut head, &plan.names);
        }
        let no_body =
            plan.as_ref().is_some_and(|p| p.head_request) || status == 204 || status == 304;
        let body = if no_body { 0 } else { parsed.content_length };
        Some((head, body, parsed.chunked && !no_body))
    }
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

struct ParsedHead {
    meta_names: Vec<String>,
    content_length: u64,
    chunked: bool,
}

fn parse_head(head: &[u8]) -> ParsedHead {
    let mut parsed = ParsedHead {
        meta_names: Vec::new(),
        content_length: 0,
        chunked: false,
    };
    for line in head.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.len() > META_PREFIX.len()
            && name[..META_PREFIX.len()].eq_ignore_ascii_case(META_PREFIX)
        {
            parsed
                .meta_names
                .push(String::from_utf8_lossy(name).into_owned());
        } else if name.eq_ignore_ascii_case(b"content-length") {
            parsed.content_length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            parsed.chunked = value
                .to_ascii_lowercase()
                .windows(7)
                .any(|w| w == b"chunked");
        }
    }
    parsed
}

/// Rewrites `x-ms-meta-<key>` header names in `head` to the spelling of `keys`.
fn restore_names(head: &mut [u8], keys: &[String]) {
    let mut start = 0;
    while let Some(len) = head[start..].iter().position(|b| *b == b'\n') {
        let line = start..start + len;
        start += len + 1;
        let Some(colon) = head[line.clone()].iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line.start..line.start + colon;
        let Some(key_bytes) = head[name.clone()].get(META_PREFIX.len()..) else {
            continue;
        };
        if !head[name.clone()].starts_with(META_PREFIX) {
            continue;
        }
        if let Some(key) = keys
            .iter()
            .find(|k| k.as_bytes().eq_ignore_ascii_case(key_bytes))
        {
            let key_start = name.start + META_PREFIX.len();
            head[key_start..name.end].copy_from_slice(key.as_bytes());
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CaseKeepingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.scan_inbound(&buf.filled()[before..]);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> CaseKeepingStream<S> {
    /// Writes from `first` (and `rest` when vectored), never past the current response's
    /// head or body, rewriting head bytes. Returns how many caller bytes were consumed.
    fn write_parts(
        &mut self,
        cx: &mut Context<'_>,
        first: &[u8],
        rest: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            match &mut self.writing {
                Outbound::Off => {
                    let mut all = vec![IoSlice::new(first)];
                    all.extend(rest.iter().map(|s| IoSlice::new(s)));
                    return Pin::new(&mut self.inner).poll_write_vectored(cx, &all);
                }
                Outbound::Body(remaining) => {
                    let slices = limit(first, rest, *remaining);
                    let result = Pin::new(&mut self.inner).poll_write_vectored(cx, &slices);
                    if let Poll::Ready(Ok(n)) = result {
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            self.writing = Outbound::Head {
                                rewritten: None,
                                done: 0,
                            };
                        }
                    }
                    return result;
                }
                Outbound::Head {
                    rewritten: None, ..
                } => {
                    if first.is_empty() {
                        return Poll::Ready(Ok(0));
                    }
                    self.writing = match self.plan_response(first) {
                        // The head is not whole in this write: stop following.
                        None => Outbound::Off,
                        // A chunked body: rewrite this head, then stop following.
                        Some((head, _, true)) => Outbound::Head {
                            rewritten: Some((head, CHUNKED)),
                            done: 0,
                        },
                        Some((head, body, false)) => Outbound::Head {
                            rewritten: Some((head, body)),
                            done: 0,
                        },
                    };
                }
                Outbound::Head {
                    rewritten: Some((head, body)),
                    done,
                } => {
                    let head_left = head.len() - *done;
                    let after_head = &first[head_left.min(first.len())..];
                    let body_limit = if *body == CHUNKED { 0 } else { *body };
                    let mut slices = vec![IoSlice::new(&head[*done..])];
                    slices.extend(limit(after_head, rest, body_limit));
                    let result = Pin::new(&mut self.inner).poll_write_vectored(cx, &slices);
                    if let Poll::Ready(Ok(n)) = result {
                        if n < head_left {
                            *done += n;
                        } else {
                            let body_written = (n - head_left) as u64;
                            self.writing = match *body {
                                CHUNKED => Outbound::Off,
                                b if b == body_written => Outbound::Head {
                                    rewritten: None,
                                    done: 0,
                                },
                                b => Outbound::Body(b - body_written),
                            };
                        }
                    }
                    return result;
                }
            }
        }
    }
}

/// Slices covering at most `max` bytes of `first` then `rest`.
fn limit<'a>(first: &'a [u8], rest: &'a [IoSlice<'a>], max: u64) -> Vec<IoSlice<'a>> {
    let mut left = max as usize;
    let mut out = Vec::new();
    for part in std::iter::once(first).chain(rest.iter().map(|s| &**s)) {
        if left == 0 {
            break;
        }
        let take = part.len().min(left);
        if take > 0 {
            out.push(IoSlice::new(&part[..take]));
            left -= take;
        }
    }
    out
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CaseKeepingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_parts(cx, buf, &[])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        this.write_parts(cx, &bufs[first], &bufs[first + 1..])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A wrapped stream whose socket takes at most `capacity` bytes at a time.
    fn stream_of(
        capacity: usize,
    ) -> (
        CaseKeepingStream<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<ConnectionNames>,
    ) {
        let (ours, theirs) = tokio::io::duplex(capacity);
        let names = Arc::new(ConnectionNames::default());
        (CaseKeepingStream::new(ours, names.clone()), theirs, names)
    }

    fn stream() -> (
        CaseKeepingStream<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<ConnectionNames>,
    ) {
        stream_of(1 << 20)
    }

    #[tokio::test]
    async fn request_heads_are_followed_across_bodies_split_reads_and_pipelining() {
        let (mut server, mut client, names) = stream();
        let body = "x-ms-meta-Fake: not a header\r\n\r\n";
        let wire = format!(
            "PUT /a HTTP/1.1\r\nX-Ms-Meta-vmName: web\r\nContent-Length: {}\r\n\r\n{body}\
             \r\nGET /b HTTP/1.1\r\nx-ms-meta-DiskLun: 0\r\n\r\n",
            body.len()
        );
        client.write_all(wire.as_bytes()).await.unwrap();
        drop(client);
        let mut buf = [0u8; 7];
        while server.read(&mut buf).await.unwrap() > 0 {}
        assert_eq!(names.next_request().0, vec!["X-Ms-Meta-vmName"]);
        assert_eq!(names.next_request().0, vec!["x-ms-meta-DiskLun"]);
        assert!(
            names.next_request().0.is_empty(),
            "the body was not taken for a head"
        );
    }

    #[tokio::test]
    async fn a_chunked_request_stops_the_following() {
        let (mut server, mut client, names) = stream();
        let wire = "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nx-ms-\r\n0\r\n\r\n\
                    GET /b HTTP/1.1\r\nx-ms-meta-Late: 1\r\n\r\n";
        client.write_all(wire.as_bytes()).await.unwrap();
        drop(client);
        let mut buf = Vec::new();
        server.read_to_end(&mut buf).await.unwrap();
        assert!(names.next_request().0.is_empty());
        assert!(
            names.next_request().0.is_empty(),
            "not followed after chunked"
        );
    }

    #[tokio::test]
    async fn response_metadata_names_get_the_stored_spelling_and_bodies_are_untouched() {
        // A socket that takes 5 bytes at a time: heads and bodies are written in pieces.
        let (mut server, mut client, names) = stream_of(5);
        names.push_response(ResponsePlan {
            names: vec!["vmName".into()],
            head_request: false,
        });
        names.push_response(ResponsePlan {
            names: vec!["DiskLun".into()],
            head_request: true,
        });
        let first_body = "x-ms-meta-vmname: body text stays";
        let wire = format!(
            "HTTP/1.1 100 Continue\r\n\r\n\
             HTTP/1.1 200 OK\r\nx-ms-meta-vmname: web\r\ncontent-length: {}\r\n\r\n{first_body}\
             HTTP/1.1 200 OK\r\nx-ms-meta-disklun: 0\r\ncontent-length: 999\r\n\r\n",
            first_body.len()
        );
        let reader = tokio::spawn(async move {
            let mut out = String::new();
            client.read_to_string(&mut out).await.unwrap();
            out
        });
        // Like hyper: each call offers everything not yet written.
        let bytes = wire.as_bytes();
        let mut written = 0;
        while written < bytes.len() {
            written += server.write(&bytes[written..]).await.unwrap();
        }
        drop(server);
        let out = reader.await.unwrap();
        let expected = wire
            .replace("x-ms-meta-vmname: web", "x-ms-meta-vmName: web")
            .replace("x-ms-meta-disklun", "x-ms-meta-DiskLun");
        assert_eq!(out, expected);
    }

    #[test]
    fn only_metadata_header_names_are_rewritten() {
        let mut head =
            b"HTTP/1.1 200 OK\r\nx-ms-meta-abc: x-ms-meta-abc\r\nabc: 1\r\n\r\n".to_vec();
        restore_names(&mut head, &["ABC".into()]);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "HTTP/1.1 200 OK\r\nx-ms-meta-ABC: x-ms-meta-abc\r\nabc: 1\r\n\r\n"
        );
    }
}
