//! The connection a request arrived on: its peer, and the switch that lets a fault close
//! it without answering. The server puts one in each request's extensions; the API
//! handler reads it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Notify;

/// The connection a request arrived on, put in the request's extensions by the server.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionHandle {
    /// The client's address (the Global tier counts per IP).
    pub(crate) peer: SocketAddr,
    drop: Arc<Notify>,
}

impl ConnectionHandle {
    pub(crate) fn new(peer: SocketAddr) -> Self {
        ConnectionHandle {
            peer,
            drop: Arc::new(Notify::new()),
        }
    }

    /// Closes the connection at once, without writing a response.
    pub(crate) fn drop_now(&self) {
        self.drop.notify_one();
    }

    /// Completes when a fault asked to close the connection.
    pub(crate) async fn dropped(&self) {
        self.drop.notified().await;
    }
}
