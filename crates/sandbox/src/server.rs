//! The HTTP server: the accept loop, one hyper connection per client, the handle that lets a
//! fault close a connection without answering, and graceful shutdown.
//!
//! The sandbox serves connections itself rather than through `axum::serve` because a fault
//! must be able to drop one TCP connection in the middle of a request (before or after the
//! leads were stored), which is invisible from inside an ordinary handler.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt as _;

use crate::auth::{NO_SYNC_KEY, TEST_KEY};
use crate::config::Config;
use crate::state::SharedState;

/// The connection a request arrived on, put in the request's extensions by the server.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionHandle {
    /// The client's address (the Global tier counts per IP).
    pub(crate) peer: SocketAddr,
    drop: Arc<Notify>,
}

impl ConnectionHandle {
    fn new(peer: SocketAddr) -> Self {
        ConnectionHandle {
            peer,
            drop: Arc::new(Notify::new()),
        }
    }

    /// Closes the connection at once, without writing a response.
    pub(crate) fn drop_now(&self) {
        self.drop.notify_one();
    }
}

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
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts a sandbox with `config` on `127.0.0.1` and a free port.
    pub async fn start(config: Config) -> io::Result<Sandbox> {
        Sandbox::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a sandbox with `config` on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, config: Config) -> io::Result<Sandbox> {
        Sandbox::start_with_state(addr, SharedState::new(config)).await
    }

    /// Starts a sandbox on `addr` serving an existing state: leads, keys, windows, faults
    /// and log carry over, as for a server restarted with its database kept.
    pub async fn start_with_state(addr: SocketAddr, state: SharedState) -> io::Result<Sandbox> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let grace = state.config().shutdown_grace;
        let router = crate::router(state.clone());
        let task = tokio::spawn(accept_loop(listener, router, stopped, grace));
        tracing::debug!(%addr, "sandbox listening");
        Ok(Sandbox {
            addr,
            state,
            stop,
            task: Some(task),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, e.g. `http://127.0.0.1:40123/api` (what `--api-url` takes).
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The server's root URL, e.g. `http://127.0.0.1:40123` (the evidence endpoints live
    /// under `/__sandbox/`).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
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
                    conns.spawn(serve_connection(stream, peer, router.clone(), stop.clone(), grace));
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

/// Serves one connection until the client closes it, a fault drops it, or shutdown.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let handle = ConnectionHandle::new(peer);
    let for_requests = handle.clone();
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(for_requests.clone());
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // Returning drops the connection (and the request being handled): the socket
        // closes with no response written.
        () = handle.drop.notified() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}
