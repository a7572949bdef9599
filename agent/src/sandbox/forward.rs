//! The forwarders: listeners made inside the sandbox's network namespace, served by Tokio
//! in the agent, each connection spliced byte for byte to the service on the host. TLS to
//! the blob endpoint passes through untouched, so the extension verifies the service's own
//! certificate.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long a forwarder waits after a failed accept (out of file descriptors, say) before
/// trying again, so that it does not spin.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Serves `listener` (bound inside the namespace) until the returned task is aborted, which
/// also ends every connection it carries.
pub(super) fn spawn(
    listener: std::net::TcpListener,
    target: SocketAddr,
) -> io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    Ok(tokio::spawn(serve(listener, target)))
}

async fn serve(listener: TcpListener, target: SocketAddr) {
    // Owned here, so aborting this task drops the set and aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((inside, _)) => {
                    connections.spawn(splice(inside, target));
                }
                Err(error) => {
                    tracing::warn!(%target, %error, "a sandbox forwarder cannot accept");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn splice(mut inside: TcpStream, target: SocketAddr) {
    let mut outside = match TcpStream::connect(target).await {
        Ok(outside) => outside,
        Err(error) => {
            tracing::warn!(%target, %error, "a sandbox forwarder cannot reach the service");
            return;
        }
    };
    // Requests are small and answered at once; Nagle would only add latency.
    let _ = inside.set_nodelay(true);
    let _ = outside.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
}
