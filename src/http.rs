//! The HTTP client and how it reaches the API: the proxy the environment names for the
//! API's URL (read as curl reads `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`),
//! the certificates it trusts (the operating system's store, or the `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` that replace it as in OpenSSL, plus `--ca-cert`), and transport failures
//! put in words that name the fix.
//!
//! Everything is decided before the first request ([`Network::from_env`]): a proxy URL that
//! cannot be used or a certificate file that cannot be read is a configuration error.
//! The client only ever talks to one origin (redirects are never followed), so the proxy
//! is chosen once, for the API's URL.
//!
//! The key never reaches a proxy outside TLS: an `https://` API is reached through an HTTP
//! `CONNECT` tunnel (the proxy sees the host and port, and its own `Proxy-Authorization`);
//! a plain `http://` API is never sent through a proxy (loopback goes direct, anything else
//! is refused). Proxy credentials appear in no message: a proxy is always shown as
//! `scheme://***@host:port`.

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use url::{Host, Url};

/// How the client reaches the API: directly or through a proxy, trusting which roots.
#[derive(Clone)]
pub struct Network {
    route: Route,
    trust: Trust,
}

/// Direct, or through a proxy.
#[derive(Clone, PartialEq, Eq)]
pub enum Route {
    /// No proxy applies.
    Direct,
    /// Through this proxy (`CONNECT` tunnels for `https://`).
    Proxy(ProxyUrl),
}

/// A proxy URL with its credentials, which only [`Network::client`] ever reads.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    url: Url,
    /// The environment variable it came from.
    variable: &'static str,
}

impl fmt::Display for ProxyUrl {
    /// `http://***@proxy.corp:3128 (from HTTPS_PROXY)`: never the user name or password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = if self.url.username().is_empty() && self.url.password().is_none() {
            ""
        } else {
            "***@"
        };
        let host = self.url.host_str().unwrap_or("?");
        let port = self.url.port_or_known_default().unwrap_or(0);
        write!(
            f,
            "{}://{credentials}{host}:{port} (from {})",
            self.url.scheme(),
            self.variable
        )
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("directly"),
            Route::Proxy(p) => write!(f, "through the proxy {p}"),
        }
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The root certificates trusted.
#[derive(Clone, Default)]
struct Trust {
    /// From the system store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`), and `--ca-cert`.
    roots: Vec<CertificateDer<'static>>,
    /// Where the system roots came from, for the log.
    origin: String,
    /// The system store was empty (a minimal container): Mozilla's roots, built in, stand in.
    built_in: bool,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("route", &self.route)
            .field("roots", &self.trust.roots.len())
            .field("origin", &self.trust.origin)
            .finish()
    }
}

impl Network {
    /// Reads the proxy settings for `api_url` and the trusted certificates from the
    /// environment, plus `ca_cert` (a PEM bundle). Every problem is an error now, before
    /// anything is sent.
    pub fn from_env(api_url: &str, ca_cert: Option<&Path>) -> Result<Network> {
        let url = Url::parse(api_url).with_context(|| format!("`{api_url}` is not a URL"))?;
        let route = choose_route(&url, |name| std::env::var(name).ok())?;
        let mut trust = system_roots()?;
        if let Some(path) = ca_cert {
            trust.roots.extend(read_ca_file(path, "--ca-cert")?);
            trust.origin.push_str(&format!(" and `{}`", path.display()));
        }
        Ok(Network { route, trust })
    }

    /// Straight to a loopback server over plain HTTP (the in-process sandbox).
    pub fn direct() -> Network {
        Network {
            route: Route::Direct,
            trust: Trust::default(),
        }
    }

    /// The route chosen.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// One line for the log: the route and the roots trusted.
    pub fn describe(&self) -> String {
        if self.trust.roots.is_empty() && !self.trust.built_in {
            return format!("reaching the API {}", self.route);
        }
        format!(
            "reaching the API {}, trusting {} root certificates from {}",
            self.route,
            self.trust.roots.len(),
            self.trust.origin
        )
    }

    /// The client: these roots and this route, a time limit per request (`timeout`) and
    /// for connecting, `pool` idle connections kept, redirects never followed (a redirect
    /// would carry the key to wherever it points).
    pub fn client(&self, timeout: Duration, pool: usize) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("nl-import/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .pool_max_idle_per_host(pool)
            .redirect(reqwest::redirect::Policy::none())
            .tls_built_in_root_certs(false)
            .tls_built_in_webpki_certs(self.trust.built_in);
        for root in &self.trust.roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(root)?);
        }
        builder = match &self.route {
            Route::Direct => builder.no_proxy(),
            Route::Proxy(proxy) => builder.proxy(reqwest::Proxy::all(proxy.url.as_str())?),
        };
        builder.build()
    }
}

/// The proxy variables for a scheme, in curl's order: the lower-case name first.
fn proxy_variables(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "https" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    }
}

/// Chooses the route to `url` from the variables `env` returns, as curl does: the first
/// non-empty of `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` (`http_proxy`… for
/// `http://`), unless `no_proxy` / `NO_PROXY` lists the host. A plain `http://` URL never
/// goes through a proxy (the key would cross it in the clear): to loopback it goes direct,
/// elsewhere it is refused.
pub fn choose_route(url: &Url, env: impl Fn(&str) -> Option<String>) -> Result<Route> {
    let found = proxy_variables(url.scheme()).iter().find_map(|name| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*name, v))
    });
    let Some((variable, value)) = found else {
        return Ok(Route::Direct);
    };
    let no_proxy = ["no_proxy", "NO_PROXY"].iter().find_map(|name| env(name));
    let port = url.port_or_known_default().unwrap_or(443);
    if let (Some(list), Some(host)) = (no_proxy, url.host())
        && no_proxy_matches(&list, &host, port)
    {
        return Ok(Route::Direct);
    }
    let proxy = parse_proxy(&value, variable)?;
    if url.scheme() == "http" {
        if is_loopback(url.host()) {
            return Ok(Route::Direct);
        }
        bail!(
            "{variable} names a proxy for the API's plain http:// URL: the API key would reach the proxy unencrypted. Use an https:// --api-url (its requests go through a CONNECT tunnel), or list the host in NO_PROXY"
        );
    }
    Ok(Route::Proxy(proxy))
}

/// Reads a proxy URL as curl does: no scheme means `http://`; no port means 1080 (443 for
/// an `https://` proxy). SOCKS and other schemes are refused. Errors never show the
/// credentials.
fn parse_proxy(value: &str, variable: &'static str) -> Result<ProxyUrl> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let Ok(mut url) = Url::parse(&with_scheme) else {
        bail!("{variable} is not a proxy URL (expected http://[user:password@]host:port)");
    };
    match url.scheme() {
        "http" | "https" => {}
        s if s.starts_with("socks") => bail!(
            "{variable} names a {s} proxy: nl-import speaks to HTTP proxies only (CONNECT); use the HTTP port of your proxy"
        ),
        s => bail!("{variable}: unsupported proxy scheme `{s}` (use http://host:port)"),
    }
    if url.port().is_none() {
        let default = if url.scheme() == "https" { 443 } else { 1080 };
        let _ = url.set_port(Some(default));
    }
    Ok(ProxyUrl { url, variable })
}

fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `list` (a `NO_PROXY` value) exempts `host` on `port`, by curl's rules: entries
/// separated by commas or blanks; `*` alone matches everything; a name matches itself and
/// its subdomains (`example.com` and `.example.com` both match `api.example.com`, not
/// `notexample.com`), case-insensitively, trailing dots ignored; an IP address or CIDR
/// range (`10.0.0.0/8`, `::1/128`) matches addresses only. Beyond curl (as Go and Python
/// read it), an entry with a port (`host:8443`, `[::1]:8443`) matches that port only.
pub fn no_proxy_matches(list: &str, host: &Host<&str>, port: u16) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let name = match host {
        Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
        _ => None,
    };
    let ip = match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        Host::Domain(_) => None,
    };
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (pattern, entry_port) = split_port(entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            match (&name, ip) {
                (Some(name), _) => {
                    let pattern = pattern
                        .trim_end_matches('.')
                        .trim_start_matches('.')
                        .to_ascii_lowercase();
                    !pattern.is_empty()
                        && (*name == pattern
                            || name
                                .strip_suffix(&pattern)
                                .is_some_and(|rest| rest.ends_with('.')))
                }
                (None, Some(ip)) => ip_matches(pattern, ip),
                (None, None) => false,
            }
        })
}

/// `host:port`, `[v6]:port`, `[v6]`, `v6`, `v4/bits` or a name, and its port if it has one.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((addr, after)) => (addr, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    // One colon: host:port. More: a bare IPv6 address (or range), no port.
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether `ip` is the address, or within the CIDR range, that `pattern` writes.
fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match pattern.split_once('/') {
        Some((addr, bits)) => match bits.parse::<u32>() {
            Ok(bits) => (addr, Some(bits)),
            Err(_) => return false,
        },
        None => (pattern, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let bits = bits.unwrap_or(32);
            bits <= 32
                && prefix_eq(
                    u128::from(net.to_bits()) << 96,
                    u128::from(ip.to_bits()) << 96,
                    bits,
                )
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let bits = bits.unwrap_or(128);
            bits <= 128 && prefix_eq(net.to_bits(), ip.to_bits(), bits)
        }
        _ => false,
    }
}

fn prefix_eq(a: u128, b: u128, bits: u32) -> bool {
    bits == 0 || (a ^ b) >> (128 - bits) == 0
}

/// The system's roots: from `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (as OpenSSL reads
/// them: they replace the system store), otherwise from the operating system's store. A
/// set variable that yields no certificate is an error; an empty system store falls back
/// to the Mozilla roots built into the binary.
fn system_roots() -> Result<Trust> {
    let file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty());
    let dir = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty());
    if let Some(path) = &file
        && dir.is_none()
    {
        // Read it ourselves, to say exactly what is wrong with it.
        let roots = read_ca_file(Path::new(path), "SSL_CERT_FILE")?;
        return Ok(Trust {
            roots,
            origin: format!("SSL_CERT_FILE `{}`", Path::new(path).display()),
            built_in: false,
        });
    }
    let loaded = rustls_native_certs::load_native_certs();
    let mut store = rustls::RootCertStore::empty();
    let roots: Vec<_> = loaded
        .certs
        .into_iter()
        .filter(|der| store.add(der.clone()).is_ok())
        .collect();
    let from_env = file.is_some() || dir.is_some();
    if from_env && roots.is_empty() {
        let why = loaded
            .errors
            .first()
            .map_or_else(|| "no certificate in them".to_owned(), ToString::to_string);
        bail!("SSL_CERT_FILE / SSL_CERT_DIR give no usable certificate ({why})");
    }
    for error in &loaded.errors {
        tracing::debug!("system certificate store: {error}");
    }
    let origin = if from_env {
        "SSL_CERT_FILE / SSL_CERT_DIR".to_owned()
    } else if roots.is_empty() {
        "the Mozilla set built in (the system store is empty)".to_owned()
    } else {
        "the system store".to_owned()
    };
    Ok(Trust {
        built_in: roots.is_empty(),
        roots,
        origin,
    })
}

/// The certificates of a PEM bundle, each usable as a trust anchor. `what` names the
/// file in errors (`--ca-cert`, `SSL_CERT_FILE`).
pub fn read_ca_file(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {what} `{}`", path.display()))?;
    let mut roots = Vec::new();
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| {
            anyhow::anyhow!(
                "{what} `{}` is not a readable PEM file ({e})",
                path.display()
            )
        })?;
        store.add(cert.clone()).map_err(|e| {
            anyhow::anyhow!(
                "certificate #{} in {what} `{}` cannot be trusted as a root ({e})",
                i + 1,
                path.display()
            )
        })?;
        roots.push(cert);
    }
    if roots.is_empty() {
        bail!(
            "{what} `{}` holds no certificate (expected PEM blocks beginning -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(roots)
}

/// A transport failure (no HTTP answer), in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// What happened and, when there is one, the fix.
    pub message: String,
    /// Refused connection, unknown host, TLS or proxy failure: trying again will not help
    /// until something is changed, so a session in which nothing was answered yet stops.
    pub unreachable: bool,
}

/// Puts a transport error in words: the kind of failure, its innermost cause, and for a
/// certificate the fix (`--ca-cert`, `SSL_CERT_FILE`). Never the URL's credentials or the
/// proxy's (neither is in reqwest's errors; the text is cut to one line anyway).
pub fn explain(err: &reqwest::Error) -> Transport {
    let mut causes: Vec<&(dyn StdError + 'static)> = Vec::new();
    let mut next = StdError::source(err);
    while let Some(cause) = next {
        causes.push(cause);
        // An `io::Error`'s `source` skips the error it wraps (a rustls error, another
        // `io::Error`): look inside it instead.
        next = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cause.source(),
        };
    }
    let innermost = causes
        .last()
        .map(|e| crate::text::server_text(&e.to_string()))
        .unwrap_or_default();
    let detail = |kind: &str| {
        if innermost.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind} ({innermost})")
        }
    };
    let unreachable = |message: String| Transport {
        message,
        unreachable: true,
    };
    if let Some(tls) = causes
        .iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
    {
        return unreachable(tls_message(tls));
    }
    let text: Vec<String> = causes.iter().map(ToString::to_string).collect();
    let says = |needle: &str| text.iter().any(|t| t.contains(needle));
    if says("tunnel error: proxy authorization required") {
        return unreachable(
            "the proxy asked for credentials (407 Proxy Authentication Required): give them in the proxy variable, as http://user:password@host:port (percent-encoded)".to_owned(),
        );
    }
    if says("tunnel error: unsuccessful") {
        return unreachable(
            "the proxy refused to open a tunnel to the API (its CONNECT answer was not 200): check that it lets HTTPS through to the API's host and port".to_owned(),
        );
    }
    let refused = causes.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    let via_proxy = says("tunnel error: failed to create underlying connection");
    if refused {
        let whom = if via_proxy {
            "the proxy"
        } else {
            "the API's host"
        };
        return unreachable(format!("connection refused by {whom}"));
    }
    if says("dns error") {
        return unreachable(detail(if via_proxy {
            "the proxy's host name could not be resolved"
        } else {
            "the API's host name could not be resolved"
        }));
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the answer was cut off"
    } else {
        "connection error"
    };
    Transport {
        message: detail(kind),
        unreachable: false,
    }
}

fn tls_message(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    const FIX: &str = "if a TLS-inspecting proxy or a private CA signs it, pass that CA's certificate with --ca-cert FILE (PEM), or point SSL_CERT_FILE at a bundle that holds it";
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the server's TLS certificate is not valid for this host ({err}): check --api-url; a TLS-inspecting proxy must sign for the API's own host name"
            ),
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => {
                format!(
                    "the server's TLS certificate is expired or not yet valid ({err}): check this machine's clock"
                )
            }
            _ => format!("the server's TLS certificate is not trusted ({err}): {FIX}"),
        },
        other => format!("the TLS handshake with the server failed ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn route(url: &str, pairs: &[(&str, &str)]) -> Result<Route> {
        choose_route(&Url::parse(url).unwrap(), env(pairs))
    }

    fn proxied(url: &str, pairs: &[(&str, &str)]) -> String {
        match route(url, pairs).unwrap() {
            Route::Direct => "direct".to_owned(),
            Route::Proxy(p) => p.url.to_string(),
        }
    }

    const API: &str = "https://api.naturalead.ai/api";

    #[test]
    fn the_proxy_variables_are_read_in_curls_order() {
        assert_eq!(proxied(API, &[]), "direct");
        assert_eq!(
            proxied(API, &[("HTTPS_PROXY", "http://proxy:3128")]),
            "http://proxy:3128/"
        );
        // Lower case first, as curl reads them.
        assert_eq!(
            proxied(
                API,
                &[
                    ("https_proxy", "http://lower:1"),
                    ("HTTPS_PROXY", "http://upper:2")
                ]
            ),
            "http://lower:1/"
        );
        // ALL_PROXY when no scheme-specific variable is set (or it is empty).
        assert_eq!(
            proxied(API, &[("ALL_PROXY", "http://all:3")]),
            "http://all:3/"
        );
        assert_eq!(
            proxied(API, &[("HTTPS_PROXY", " "), ("all_proxy", "http://all:3")]),
            "http://all:3/"
        );
        // HTTP_PROXY is for http:// URLs only.
        assert_eq!(proxied(API, &[("HTTP_PROXY", "http://h:4")]), "direct");
        // No scheme: http://; no port: 1080, curl's default.
        assert_eq!(
            proxied(API, &[("HTTPS_PROXY", "proxy.corp")]),
            "http://proxy.corp:1080/"
        );
        assert_eq!(
            proxied(API, &[("HTTPS_PROXY", "https://proxy.corp")]),
            // (443 is the https default: the URL does not spell it.)
            "https://proxy.corp/"
        );
    }

    #[test]
    fn no_proxy_exempts_hosts_as_curl_does() {
        let cases = [
            ("api.naturalead.ai", true),
            ("naturalead.ai", true),
            (".naturalead.ai", true),
            ("NATURALEAD.AI.", true),
            ("lead.ai", false),
            ("ai", true),
            ("other.com, naturalead.ai", true),
            ("other.com naturalead.ai", true),
            ("*", true),
            ("other.com,*", true),
            ("api.naturalead.ai:443", true),
            ("api.naturalead.ai:8443", false),
            ("10.0.0.0/8", false),
            ("", false),
        ];
        for (list, exempt) in cases {
            let pairs = [("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", list)];
            assert_eq!(proxied(API, &pairs) == "direct", exempt, "NO_PROXY={list}");
        }
        // Not a suffix on a label boundary.
        let pairs = [("HTTPS_PROXY", "http://p:1"), ("no_proxy", "lead.ai")];
        assert_eq!(proxied(API, &pairs), "http://p:1/");
    }

    #[test]
    fn no_proxy_matches_addresses_and_ranges() {
        let v4 = Host::Ipv4("10.1.2.3".parse().unwrap());
        let v6 = Host::Ipv6("fd00::5".parse().unwrap());
        let cases = [
            ("10.1.2.3", &v4, true),
            ("10.0.0.0/8", &v4, true),
            ("10.1.2.0/24", &v4, true),
            ("10.1.3.0/24", &v4, false),
            ("0.0.0.0/0", &v4, true),
            ("10.1.2.3:443", &v4, true),
            ("10.1.2.3:80", &v4, false),
            ("10.1.2.3/33", &v4, false),
            // A name never matches an address (no lookups), nor a v4 range a v6 address.
            ("localhost", &v4, false),
            ("10.0.0.0/8", &v6, false),
            ("fd00::/8", &v6, true),
            ("fd00::5", &v6, true),
            ("[fd00::5]", &v6, true),
            ("[fd00::5]:443", &v6, true),
            ("[fd00::5]:80", &v6, false),
            ("fe80::/10", &v6, false),
        ];
        for (list, host, want) in cases {
            assert_eq!(no_proxy_matches(list, host, 443), want, "{list} {host}");
        }
    }

    #[test]
    fn plain_http_never_goes_through_a_proxy() {
        let pairs = [("HTTP_PROXY", "http://p:1"), ("ALL_PROXY", "http://p:1")];
        assert_eq!(proxied("http://127.0.0.1:8787/api", &pairs), "direct");
        assert_eq!(proxied("http://localhost:8787/api", &pairs), "direct");
        let err = route("http://api.example.com/api", &pairs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unencrypted") && err.contains("HTTP_PROXY"),
            "{err}"
        );
        // ...unless NO_PROXY exempts it anyway.
        let pairs = [("HTTP_PROXY", "http://p:1"), ("NO_PROXY", "example.com")];
        assert_eq!(proxied("http://api.example.com/api", &pairs), "direct");
    }

    #[test]
    fn unusable_proxies_are_refused_without_showing_credentials() {
        for (value, needle) in [
            ("socks5h://alice:s3cret@p:1080", "socks5h"),
            ("ftp://alice:s3cret@p:21", "ftp"),
            ("http://alice:s3cret@", "not a proxy URL"),
            ("http://alice:s3cret@[::1", "not a proxy URL"),
        ] {
            let err = route(API, &[("HTTPS_PROXY", value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{value}: {err}");
            assert!(!err.contains("s3cret") && !err.contains("alice"), "{err}");
        }
    }

    #[test]
    fn a_proxy_shows_without_its_credentials() {
        let Route::Proxy(p) = route(
            API,
            &[("HTTPS_PROXY", "http://user:s3cret@proxy.corp:3128")],
        )
        .unwrap() else {
            panic!("a proxy")
        };
        let shown = format!("{p} {p:?} {}", Route::Proxy(p.clone()));
        assert!(
            !shown.contains("s3cret") && !shown.contains("user"),
            "{shown}"
        );
        assert!(
            shown.contains("http://***@proxy.corp:3128 (from HTTPS_PROXY)"),
            "{shown}"
        );
        // The credentials are kept for the proxy itself.
        assert_eq!(p.url.password(), Some("s3cret"));
    }

    #[test]
    fn a_ca_file_must_hold_a_usable_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_ca_file(&missing, "--ca-cert").unwrap_err().to_string();
        assert!(err.contains("cannot read --ca-cert"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = read_ca_file(&empty, "--ca-cert").unwrap_err().to_string();
        assert!(err.contains("holds no certificate"), "{err}");
        let key_only = dir.path().join("key.pem");
        std::fs::write(
            &key_only,
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = read_ca_file(&key_only, "--ca-cert")
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no certificate"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = read_ca_file(&garbage, "--ca-cert").unwrap_err().to_string();
        assert!(err.contains("cannot be trusted as a root"), "{err}");
        let good = dir.path().join("good.pem");
        std::fs::write(
            &good,
            naturalead_sandbox::TlsIdentity::self_signed()
                .unwrap()
                .cert_pem(),
        )
        .unwrap();
        assert_eq!(read_ca_file(&good, "--ca-cert").unwrap().len(), 1);
    }

    #[test]
    fn a_client_builds_for_every_route() {
        let direct = Network::direct();
        assert!(direct.client(Duration::from_secs(1), 1).is_ok());
        let proxy = Network {
            route: route(API, &[("HTTPS_PROXY", "http://u:p@proxy:3128")]).unwrap(),
            trust: Trust::default(),
        };
        assert!(proxy.client(Duration::from_secs(1), 1).is_ok());
        assert!(!format!("{proxy:?} {}", proxy.describe()).contains("u:p"));
    }
}
