//! Serving the blob endpoint: one hyper HTTP/1 connection per client, each wrapped so that
//! metadata header names keep their case (see `header_case`), with the client's address
//! for SAS `sip` checks and the listener's scheme for `spr` checks. A response marked
//! [`ResetConnection`] is not sent: the connection is closed instead.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

use super::header_case::{CaseKeepingStream, ConnectionNames, ResponseMetadataNames, ResponsePlan};
use crate::server::{self, ClientStream, Listener, ListenerScheme};

pub async fn serve(
    listener: Listener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let connect = move |stream: ClientStream, peer, scheme| {
        let names = Arc::new(ConnectionNames::default());
        let io = TokioIo::new(CaseKeepingStream::new(stream, names.clone()));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(names.next_request());
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(ListenerScheme(scheme));
            let head_request = request.method() == Method::HEAD;
            let names = names.clone();
            let (request, unread) = server::track_unread_body(request);
            let response = router.clone().oneshot(request);
            async move {
                let mut response = match response.await {
                    Ok(response) => response,
                    Err(infallible) => match infallible {},
                };
                if response.extensions().get::<ResetConnection>().is_some() {
                    // hyper closes the connection on a service error, writing nothing.
                    return Err(ResetConnection);
                }
                unread.settle(&mut response);
                let keys = response
                    .extensions_mut()
                    .remove::<ResponseMetadataNames>()
                    .unwrap_or_default();
                names.push_response(ResponsePlan {
                    names: keys.0,
                    head_request,
                });
                Ok(response)
            }
        });
        hyper::server::conn::http1::Builder::new().serve_connection(io, service)
    };
    server::serve(listener, connect, shutdown).await
}

/// Marks a response that must not be sent: the connection is closed without one, as a
/// fault's `reset` asks.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the connection was reset by a fault")]
pub struct ResetConnection;

/// A response that makes [`serve`] close the connection instead of answering.
pub fn reset_connection() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(ResetConnection);
    response
}
