//! A request body the handler did not read to its end. hyper then closes the connection
//! after the response without saying so, while the client may already be sending its next
//! request on it: an upload refused early (a missing container, a bad signature) followed
//! by a GET on the same connection failed with "remote end closed connection without
//! response". So what is left of the body is drained when it has already arrived, which
//! keeps the connection; otherwise the response says `Connection: close`, as HTTP/1.1
//! asks of a server that will not read on, and the client opens a new connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response};
use bytes::Bytes;
use futures_util::FutureExt;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;

/// The most of an unread body drained from what has arrived; past it the connection
/// closes instead.
const DRAIN_LIMIT: usize = 1 << 20;

/// Wraps `request`'s body so that, dropped before its end, it comes back to the returned
/// [`UnreadBody`].
pub fn track(request: Request<Incoming>) -> (Request<Body>, UnreadBody) {
    let (unread, returned) = oneshot::channel();
    let request = request.map(|body| {
        Body::new(ReturnedUnread {
            body: Some(body),
            unread: Some(unread),
        })
    });
    (request, UnreadBody(returned))
}

/// What a handler left of its request's body, once the handler is done.
pub struct UnreadBody(oneshot::Receiver<Incoming>);

impl UnreadBody {
    /// Drains what is left when it has all arrived; otherwise marks `response` as the
    /// connection's last.
    pub fn settle(mut self, response: &mut Response<Body>) {
        let Ok(mut rest) = self.0.try_recv() else {
            return;
        };
        if !drain_arrived(&mut rest) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// Reads `body` to its end if every byte of it is already here (up to [`DRAIN_LIMIT`]),
/// without waiting for more.
fn drain_arrived(body: &mut Incoming) -> bool {
    let mut drained = 0;
    loop {
        match body.frame().now_or_never() {
            Some(Some(Ok(frame))) => {
                drained += frame.data_ref().map_or(0, Bytes::len);
                if drained > DRAIN_LIMIT {
                    return false;
                }
            }
            Some(None) => return true,
            Some(Some(Err(_))) | None => return false,
        }
    }
}

/// A request body that hands itself back when dropped before its end.
struct ReturnedUnread {
    body: Option<Incoming>,
    unread: Option<oneshot::Sender<Incoming>>,
}

impl http_body::Body for ReturnedUnread {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut().body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for ReturnedUnread {
    fn drop(&mut self) {
        if let (Some(body), Some(unread)) = (self.body.take(), self.unread.take()) {
            if !http_body::Body::is_end_stream(&body) {
                // The receiver is gone once the response was settled; then hyper's own
                // handling applies.
                let _ = unread.send(body);
            }
        }
    }
}
