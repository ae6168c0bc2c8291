//! A null sync server: the cheapest server that still answers `POST /api/leads/sync` the way
//! the sandbox does, so that the pipeline overhead can be measured with the whole machine
//! given to the importer (the sandbox, on the same two cores, takes more CPU per lead than
//! the importer itself).
//!
//! HTTP/1.1 with keep-alive, one thread per connection, no dependencies. A sync request is
//! answered `200 {"created":n,"updated":0,"failed":0,"errors":[]}` where `n` counts the
//! `"lead_id":` keys in the body (one per lead); nothing is parsed or stored. Any other
//! request gets `200 []`. Rate-limit headers are not sent.
//!
//! Build: `rustc -O --edition 2021 bench/null_server.rs -o null_server` (bench/run.sh does).
//! Run: `null_server [PORT]` (0, the default, picks a free port); prints
//! `listening on http://127.0.0.1:PORT/api`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let addr = listener.local_addr().expect("local addr");
    println!("null server listening on http://{addr}/api");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve(stream);
        });
    }
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request_line = line.trim_end().to_owned();
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
        let answer = if request_line.starts_with("POST ") && request_line.contains("/leads/sync") {
            let n = count(&body, b"\"lead_id\":");
            format!(r#"{{"created":{n},"updated":0,"failed":0,"errors":[]}}"#)
        } else {
            "[]".to_owned()
        };
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        writer.flush()?;
        if close {
            return Ok(());
        }
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}
