//! Serving the blob endpoint: one hyper HTTP/1 connection per client, each wrapped so that
//! metadata header names keep their case (see `header_case`), with the client's address
//! for SAS `sip` checks, and a graceful drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::header_case::{CaseKeepingStream, ConnectionNames, ResponseMetadataNames, ResponsePlan};

/// How long in-flight requests may take to finish after shutdown is asked.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let names = Arc::new(ConnectionNames::default());
        let io = TokioIo::new(CaseKeepingStream::new(stream, names.clone()));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(names.next_request());
            request.extensions_mut().insert(ConnectInfo(peer));
            let head_request = request.method() == Method::HEAD;
            let names = names.clone();
            let response = router.clone().oneshot(request.map(Body::new));
            async move {
                let mut response = response.await?;
                let keys = response
                    .extensions_mut()
                    .remove::<ResponseMetadataNames>()
                    .unwrap_or_default();
                names.push_response(ResponsePlan {
                    names: keys.0,
                    head_request,
                });
                Ok::<_, Infallible>(response)
            }
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain limit were cut off");
    }
    Ok(())
}
