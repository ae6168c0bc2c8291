//! The HTTP server: the accept loop, one hyper connection per client (over TLS when the
//! sandbox serves HTTPS), the handle that lets a fault close a connection without answering,
//! and graceful shutdown.
//!
//! The sandbox serves connections itself rather than through `axum::serve` because a fault
//! must be able to drop one TCP connection in the middle of a request (before or after the
//! leads were stored), which is invisible from inside an ordinary handler.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::auth::{NO_SYNC_KEY, TEST_KEY};
use crate::config::Config;
use crate::connection::ConnectionHandle;
use crate::state::SharedState;
use crate::tls::TlsIdentity;

/// A running sandbox: an HTTP server on a loopback (or given) address, and its state.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use naturalead_sandbox::{Config, Sandbox};
/// let sandbox = Sandbox::start(Config::default()).await?;
/// println!("{} with key {}", sandbox.base_url(), sandbox.test_key());
/// // ... run the importer against it, then look at what arrived:
/// let leads = sandbox.state().leads();
/// # let _ = leads;
/// sandbox.shutdown().await;
/// # Ok(()) }
/// ```
///
/// Dropping a `Sandbox` stops the server too, without waiting for in-flight requests.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    state: SharedState,
    tls: Option<TlsIdentity>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts a sandbox with `config` on `127.0.0.1` and a free port.
    pub async fn start(config: Config) -> io::Result<Sandbox> {
        Sandbox::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a sandbox serving HTTPS with a fresh self-signed certificate
    /// ([`TlsIdentity::self_signed`]) on `127.0.0.1` and a free port; a client trusts it
    /// through [`Sandbox::tls`]'s PEM.
    pub async fn start_tls(config: Config) -> io::Result<Sandbox> {
        Sandbox::serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            SharedState::new(config),
            Some(TlsIdentity::self_signed()?),
        )
        .await
    }

    /// Starts a sandbox with `config` on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, config: Config) -> io::Result<Sandbox> {
        Sandbox::start_with_state(addr, SharedState::new(config)).await
    }

    /// Starts a sandbox on `addr` serving an existing state: leads, keys, windows, faults
    /// and log carry over, as for a server restarted with its database kept.
    pub async fn start_with_state(addr: SocketAddr, state: SharedState) -> io::Result<Sandbox> {
        Sandbox::serve(addr, state, None).await
    }

    /// Starts a sandbox on `addr` serving `state`, over HTTPS with `tls` when given.
    pub async fn serve(
        addr: SocketAddr,
        state: SharedState,
        tls: Option<TlsIdentity>,
    ) -> io::Result<Sandbox> {
        let acceptor = tls.as_ref().map(TlsIdentity::acceptor).transpose()?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let grace = state.config().shutdown_grace;
        let router = crate::router(state.clone());
        let task = tokio::spawn(accept_loop(listener, acceptor, router, stopped, grace));
        tracing::debug!(%addr, https = tls.is_some(), "sandbox listening");
        Ok(Sandbox {
            addr,
            state,
            tls,
            stop,
            task: Some(task),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, e.g. `http://127.0.0.1:40123/api` (what `--api-url` takes);
    /// `https://` when the sandbox serves HTTPS.
    pub fn base_url(&self) -> String {
        format!("{}/api", self.root_url())
    }

    /// The server's root URL, e.g. `http://127.0.0.1:40123` (the evidence endpoints live
    /// under `/__sandbox/`).
    pub fn root_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The certificate served, when the sandbox serves HTTPS.
    pub fn tls(&self) -> Option<&TlsIdentity> {
        self.tls.as_ref()
    }

    /// The state shared with the server: leads, request log, faults, keys.
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The fixed demo key with every scope ([`TEST_KEY`]).
    pub fn test_key(&self) -> &'static str {
        TEST_KEY
    }

    /// The fixed demo key without `leads:sync_create` ([`NO_SYNC_KEY`]).
    pub fn no_sync_key(&self) -> &'static str {
        NO_SYNC_KEY
    }

    /// Stops accepting, lets in-flight requests finish within
    /// [`Config::shutdown_grace`], then closes every connection. The state stays usable.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections until told to stop, then waits for them within `grace`.
async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (router, stop) = (router.clone(), stop.clone());
                    conns.spawn(serve_connection(stream, acceptor.clone(), peer, router, stop, grace));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let all_done = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace + Duration::from_millis(100), all_done)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

/// The longest a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection (after the TLS handshake, for HTTPS) until the client closes it,
/// a fault drops it, or shutdown.
async fn serve_connection(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    peer: SocketAddr,
    router: Router,
    stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let Some(acceptor) = acceptor else {
        return serve_io(stream, peer, router, stop, grace).await;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve_io(tls, peer, router, stop, grace).await,
        // A client that does not trust the certificate ends here: no request was made.
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "sandbox TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "sandbox TLS handshake timed out"),
    }
}

/// Serves HTTP/1.1 on `io`.
async fn serve_io<S>(
    io: S,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handle = ConnectionHandle::new(peer);
    let for_requests = handle.clone();
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(for_requests.clone());
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // Returning drops the connection (and the request being handled): the socket
        // closes with no response written.
        () = handle.dropped() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}
