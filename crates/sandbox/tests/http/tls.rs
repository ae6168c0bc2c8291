//! HTTPS: the sandbox serves its self-signed certificate for `127.0.0.1` and `localhost`;
//! a client that trusts it syncs as over HTTP, one that does not fails the handshake and
//! no request reaches the log; a raw HTML fault body goes out as `text/html`.

use std::time::Duration;

use naturalead_sandbox::{Config, FaultAction, Faults, Sandbox, ScriptedFault, TEST_KEY};
use reqwest::Client;

use super::{Reply, clean, lead, leads, send, try_send};

fn trusting(sandbox: &Sandbox) -> Client {
    let pem = sandbox.tls().expect("an HTTPS sandbox").cert_pem();
    Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn sync(client: &Client, base: &str) -> reqwest::Result<Reply> {
    try_send(
        client
            .post(format!("{base}/leads/sync"))
            .header("X-API-Key", TEST_KEY)
            .json(&leads(&[lead(1), lead(2)])),
    )
    .await
}

#[tokio::test]
async fn https_serves_the_certificate_it_hands_out() {
    let sandbox = Sandbox::start_tls(Config::default()).await.unwrap();
    let base = sandbox.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let client = trusting(&sandbox);
    let reply = sync(&client, &base).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), clean(2, 0));
    // The certificate names localhost too.
    let by_name = base.replace("127.0.0.1", "localhost");
    let reply = send(
        client
            .get(format!("{by_name}/leads"))
            .header("X-API-Key", TEST_KEY),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(sandbox.state().leads().len(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_it_gets_no_answer_and_leaves_no_trace() {
    let sandbox = Sandbox::start_tls(Config::default()).await.unwrap();
    let plain = Client::builder().no_proxy().build().unwrap();
    let err = sync(&plain, &sandbox.base_url()).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Nor does plain HTTP to the HTTPS port get an answer.
    let http = sandbox.base_url().replace("https://", "http://");
    assert!(sync(&plain, &http).await.is_err());
    assert!(sandbox.state().requests().is_empty());
    // Each sandbox makes its own certificate.
    let other = Sandbox::start_tls(Config::default()).await.unwrap();
    assert_ne!(
        other.tls().unwrap().cert_pem(),
        sandbox.tls().unwrap().cert_pem()
    );
}

#[tokio::test]
async fn a_raw_html_fault_body_is_served_as_html() {
    let page = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>nginx</body>\r\n</html>\r\n";
    let sandbox = Sandbox::start(Config {
        faults: Faults::script([ScriptedFault::at(1, FaultAction::raw(413, page))]),
        ..Config::default()
    })
    .await
    .unwrap();
    let client = Client::builder().no_proxy().build().unwrap();
    let reply = sync(&client, &sandbox.base_url()).await.unwrap();
    assert_eq!(reply.status, 413);
    assert_eq!(reply.text, page);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}
