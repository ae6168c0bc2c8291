//! Network helpers: a sandbox serving HTTPS with its certificate in the scratch directory,
//! a small HTTP `CONNECT` proxy that records what it tunnelled, and an import command with
//! a clean proxy and trust environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use naturalead_sandbox::{Config, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Env;

/// Every variable that changes how `nl-import` reaches the API.
pub const NETWORK_VARIABLES: [&str; 10] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// An environment whose sandbox serves HTTPS with a fresh self-signed certificate, written
/// to `ca.pem` in the scratch directory.
pub fn start_tls(config: Config) -> Env {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sandbox = runtime.block_on(Sandbox::start_tls(config)).unwrap();
    let env = Env {
        runtime,
        sandbox: Some(sandbox),
        dir: tempfile::tempdir().unwrap(),
    };
    let pem = env.sandbox().tls().unwrap().cert_pem().to_owned();
    std::fs::write(env.ca_file(), pem).unwrap();
    env
}

impl Env {
    /// The sandbox's certificate (PEM), for an HTTPS sandbox.
    pub fn ca_file(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// [`Env::import_cmd`] with no proxy or trust variable inherited from the machine.
    pub fn net_cmd(&self, csv: &Path, extra: &[&str]) -> Command {
        let mut cmd = self.import_cmd(csv, extra);
        for name in NETWORK_VARIABLES {
            cmd.env_remove(name);
        }
        cmd
    }
}

/// One connection the proxy took.
#[derive(Debug, Clone, Default)]
pub struct Tunnel {
    /// The request line's method (`CONNECT`, or what a client sent instead).
    pub method: String,
    /// Where it asked to go (`host:port`).
    pub target: String,
    /// Its `Proxy-Authorization` header, if any.
    pub proxy_authorization: Option<String>,
    /// The status the proxy answered.
    pub status: u16,
    /// What the client sent through the tunnel once it was open (the first MiB).
    pub bytes: Vec<u8>,
}

/// A `CONNECT` proxy on a loopback port that records every connection; with credentials,
/// it asks for them (407) as a corporate proxy does.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Tunnel>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectProxy {
    pub fn start(env: &Env, credentials: Option<(&str, &str)>) -> ConnectProxy {
        let expected = credentials.map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        let listener = env
            .runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = env.runtime.spawn({
            let log = Arc::clone(&log);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, Arc::clone(&log), expected.clone()));
                }
            }
        });
        ConnectProxy { addr, log, task }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:password@127.0.0.1:port`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Every connection so far.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const MAX_RECORDED: usize = 1 << 20;

async fn serve(mut client: TcpStream, log: Arc<Mutex<Vec<Tunnel>>>, expected: Option<String>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let early = head.split_off(end);
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let mut tunnel = Tunnel {
        method: first.next().unwrap_or("").to_owned(),
        target: first.next().unwrap_or("").to_owned(),
        ..Tunnel::default()
    };
    tunnel.proxy_authorization = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    tunnel.status = if tunnel.method != "CONNECT" {
        405
    } else if expected.is_some() && tunnel.proxy_authorization != expected {
        407
    } else {
        200
    };
    let index = {
        let mut log = log.lock().unwrap();
        log.push(tunnel.clone());
        log.len() - 1
    };
    if tunnel.status != 200 {
        let _ = client.write_all(answer(tunnel.status).as_bytes()).await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&tunnel.target).await else {
        log.lock().unwrap()[index].status = 502;
        let _ = client.write_all(answer(502).as_bytes()).await;
        return;
    };
    if client.write_all(answer(200).as_bytes()).await.is_err() {
        return;
    }
    let record = |bytes: &[u8]| {
        let mut log = log.lock().unwrap();
        let kept = &mut log[index].bytes;
        let room = MAX_RECORDED.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    };
    record(&early);
    if upstream.write_all(&early).await.is_err() {
        return;
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    loop {
        match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                record(&buf[..n]);
                if upstream_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = upstream_write.shutdown().await;
    let _ = down.await;
}

/// The head of the proxy's answer.
fn answer(status: u16) -> String {
    let reason = match status {
        200 => "Connection established",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        _ => "Bad Gateway",
    };
    let extra = match status {
        200 => "",
        407 => "Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n",
        _ => "Content-Length: 0\r\n",
    };
    format!("HTTP/1.1 {status} {reason}\r\n{extra}\r\n")
}
