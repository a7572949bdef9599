//! Accepting connections for every HTTP surface, plain or over TLS: one accept loop that
//! hands each connection to a per-surface handler, tags it with the listener's scheme, and
//! drains in-flight requests on shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

mod unread_body;
pub use unread_body::{track as track_unread_body, UnreadBody};

/// How long in-flight requests may take to finish after shutdown is asked.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// A client that opens a connection and never finishes the TLS handshake must not hold
/// its task (and descriptor) for ever.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// How the connections of a listener arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The URL scheme (`http`, `https`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Request extension: the scheme of the listener that accepted the request's connection
/// (what the service writes into URLs, and what a SAS's `spr=https` is checked against).
#[derive(Debug, Clone, Copy)]
pub struct ListenerScheme(pub Scheme);

/// A bound listener and, for HTTPS, what its handshakes are made with.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

impl Listener {
    pub fn plain(tcp: TcpListener) -> Self {
        Listener { tcp, tls: None }
    }

    pub fn scheme(&self) -> Scheme {
        if self.tls.is_some() {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.tcp
            .local_addr()
            .expect("a bound listener has an address")
    }
}

/// A client connection, decrypted when it came over TLS.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Accepts connections until `shutdown` completes, handing each (after its TLS handshake,
/// when the listener has one) to `connect`, which returns the HTTP connection serving it.
/// Then waits up to `DRAIN_LIMIT` for the connections' requests in flight.
pub async fn serve<C>(
    listener: Listener,
    connect: impl Fn(ClientStream, SocketAddr, Scheme) -> C + Clone + Send + 'static,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()>
where
    C: GracefulConnection + Send + 'static,
    C::Error: std::fmt::Display + Send,
{
    let scheme = listener.scheme();
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; when all are gone the drain is over.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
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
        let tls = listener.tls.clone();
        let connect = connect.clone();
        let mut stop = stop_rx.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let stream = match tls {
                None => ClientStream::Plain(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => ClientStream::Tls(Box::new(stream)),
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let connection = connect(stream, peer, scheme);
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    if tokio::time::timeout(DRAIN_LIMIT, alive_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain limit were cut off");
    }
    Ok(())
}

/// Completes once shutdown is asked (or the accept loop is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serves an axum router on `listener`: each request carries its [`ListenerScheme`].
pub async fn serve_router(
    listener: Listener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let connect = move |stream: ClientStream, _peer, scheme| {
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let (mut request, unread) = track_unread_body(request);
            request.extensions_mut().insert(ListenerScheme(scheme));
            let response = router.clone().oneshot(request);
            async move {
                let mut response = response.await?;
                unread.settle(&mut response);
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service)
    };
    serve(listener, connect, shutdown).await
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Plain(s) => s.is_write_vectored(),
            ClientStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
