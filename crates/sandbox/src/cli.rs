//! The sandbox as a process: the command-line settings of `nl-import sandbox` and the
//! function that serves until asked to stop.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{NO_SYNC_KEY, TEST_KEY};
use crate::config::{Config, ConflictMode, HeaderStyle, Limits};
use crate::faults::{Faults, Latency, RandomFailures};
use crate::server::Sandbox;
use crate::state::SharedState;
use crate::tls::TlsIdentity;

/// Settings of `nl-import sandbox`. Every default is the documented production behaviour.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Address to listen on. Anything but loopback exposes the sandbox to the network.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Length of every rate-limit window, in seconds (fractions allowed, e.g. 0.5).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub window_secs: f64,
    /// Sync tier: sync requests per window per key.
    #[arg(long, default_value_t = Limits::default().sync_per_key, value_name = "N")]
    pub sync_limit: u32,
    /// API Key tier: requests per window per key.
    #[arg(long, default_value_t = Limits::default().per_key, value_name = "N")]
    pub key_limit: u32,
    /// Global tier: requests per window per client IP.
    #[arg(long, default_value_t = Limits::default().global_per_ip, value_name = "N")]
    pub ip_limit: u32,
    /// Account tier: requests per window per account.
    #[arg(long, default_value_t = Limits::default().per_account, value_name = "N")]
    pub account_limit: u32,
    /// `draft6`: separate `RateLimit-Limit/-Remaining/-Reset` headers (as documented);
    /// `draft7`: combined `RateLimit:` and `RateLimit-Policy:`.
    #[arg(long, default_value = "draft6", value_parser = parse_header_style)]
    pub header_style: HeaderStyle,
    /// What a phone that belongs to another lead does: `per-lead` (that lead fails in the
    /// response's `errors`) or `409` (the whole request fails with 409).
    #[arg(long, default_value = "per-lead", value_parser = parse_conflict)]
    pub conflict: ConflictMode,
    /// Fail the whole sync request with 400 when any lead is invalid.
    #[arg(long)]
    pub strict_validation: bool,
    /// Latency added to each sync request: `MS` or `MIN-MAX` milliseconds.
    #[arg(long, value_name = "MS|MIN-MAX", value_parser = parse_latency)]
    pub latency_ms: Option<Latency>,
    /// Probability (0 to 1) that a sync request answers 500 or 503 without processing.
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    pub fail_rate: Option<f64>,
    /// Faults as JSON (the `Faults` type); `--latency-ms` and `--fail-rate` override theirs.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Seed for random faults and latency.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Serve HTTPS with a fresh self-signed certificate for localhost, 127.0.0.1 and ::1
    /// (clients trust it with `nl-import import --ca-cert FILE`).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the certificate (PEM) to FILE; without it, it is printed.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_cert_out: Option<PathBuf>,
}

impl SandboxArgs {
    /// The sandbox settings these arguments describe.
    pub fn config(&self) -> io::Result<Config> {
        let mut faults = match &self.faults {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                serde_json::from_str::<Faults>(&text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?
            }
            None => Faults::default(),
        };
        if let Some(latency) = self.latency_ms {
            faults.latency = Some(latency);
        }
        if let Some(rate) = self.fail_rate {
            faults.random = Some(RandomFailures::new(rate));
        }
        if !(self.window_secs.is_finite() && self.window_secs > 0.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--window-secs must be a positive number of seconds",
            ));
        }
        Ok(Config {
            limits: Limits {
                global_per_ip: self.ip_limit,
                per_key: self.key_limit,
                sync_per_key: self.sync_limit,
                per_account: self.account_limit,
            },
            window: Duration::from_secs_f64(self.window_secs),
            header_style: self.header_style,
            conflict_mode: self.conflict,
            strict_validation: self.strict_validation,
            faults,
            seed: self.seed,
            ..Config::default()
        })
    }
}

/// Starts the sandbox, prints its URL and keys on stdout, and serves until `shutdown`
/// completes (e.g. Ctrl-C).
pub async fn serve(args: SandboxArgs, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let config = args.config()?;
    let window = config.window;
    let limits = config.limits;
    let tls = args.tls.then(TlsIdentity::self_signed).transpose()?;
    if let (Some(tls), Some(path)) = (&tls, &args.tls_cert_out) {
        std::fs::write(path, tls.cert_pem())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    let addr = SocketAddr::new(args.host, args.port);
    let sandbox = Sandbox::serve(addr, SharedState::new(config), tls)
        .await
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {}:{}: {e}", args.host, args.port),
            )
        })?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Naturalead sandbox listening on {}",
        sandbox.base_url()
    )?;
    writeln!(out, "  test key (all scopes):          {TEST_KEY}")?;
    writeln!(out, "  key without leads:sync_create:  {NO_SYNC_KEY}")?;
    writeln!(
        out,
        "  limits per {}s sliding window:  sync {} per key, {} per key, {} per IP, {} per account",
        window.as_secs_f64(),
        limits.sync_per_key,
        limits.per_key,
        limits.global_per_ip,
        limits.per_account
    )?;
    writeln!(
        out,
        "  what arrived:                   {}/__sandbox/leads",
        sandbox.root_url()
    )?;
    writeln!(
        out,
        "  request log:                    {}/__sandbox/requests",
        sandbox.root_url()
    )?;
    match (sandbox.tls(), &args.tls_cert_out) {
        (Some(_), Some(path)) => writeln!(
            out,
            "  self-signed certificate:        {} (nl-import import --ca-cert {})",
            path.display(),
            path.display()
        )?,
        (Some(tls), None) => writeln!(
            out,
            "  self-signed certificate (save it, then nl-import import --ca-cert FILE):\n{}",
            tls.cert_pem().trim_end()
        )?,
        (None, _) => {}
    }
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;
    drop(out);
    shutdown.await;
    let stored = sandbox.state().leads().len();
    sandbox.shutdown().await;
    println!("Sandbox stopped ({stored} leads were stored; they are not kept).");
    Ok(())
}

fn parse_header_style(s: &str) -> Result<HeaderStyle, String> {
    match s {
        "draft6" | "draft-6" => Ok(HeaderStyle::Draft6),
        "draft7" | "draft-7" => Ok(HeaderStyle::Draft7),
        _ => Err("expected draft6 or draft7".into()),
    }
}

fn parse_conflict(s: &str) -> Result<ConflictMode, String> {
    match s {
        "per-lead" | "per_lead" => Ok(ConflictMode::PerLead),
        "409" => Ok(ConflictMode::WholeRequest409),
        _ => Err("expected per-lead or 409".into()),
    }
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    let ms = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a number of milliseconds"))
    };
    match s.split_once('-') {
        Some((lo, hi)) => Ok(Latency::range(ms(lo)?, ms(hi)?)),
        None => Ok(Latency::fixed(ms(s)?)),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("expected a probability from 0 to 1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_forms() {
        assert_eq!(parse_latency("50"), Ok(Latency::fixed(50)));
        assert_eq!(parse_latency("1000-2000"), Ok(Latency::range(1000, 2000)));
        assert!(parse_latency("fast").is_err());
        assert!(parse_latency("1-x").is_err());
    }

    #[test]
    fn rates_and_modes() {
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-0.1").is_err());
        assert_eq!(parse_conflict("409"), Ok(ConflictMode::WholeRequest409));
        assert_eq!(parse_header_style("draft7"), Ok(HeaderStyle::Draft7));
        assert!(parse_header_style("draft8").is_err());
    }
}
