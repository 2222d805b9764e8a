//! HTTPS with rustls over a real server on 127.0.0.1: a certificate generated for the test
//! (rcgen), a client that trusts only that certificate, authenticated API calls over TLS; a
//! plain-HTTP client and a client that does not trust the certificate get nothing and do not
//! stop the server; unreadable certificate files are errors that name the file.

use std::path::Path;
use std::sync::Arc;

use crate::support::*;
use canhgac_serve::{Limits, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, RootCertStore};
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
fn certificate(
    dir: &Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    CertificateDer<'static>,
) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    (cert, key, ck.cert.der().clone())
}

fn connector(trusted: Option<CertificateDer<'static>>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    if let Some(c) = trusted {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// One HTTP/1.1 request over TLS; the whole response as text.
async fn https_get(
    addr: &str,
    connector: &TlsConnector,
    path: &str,
    token: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_api_over_tls_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate(dir.path());
    let tls = TlsConfig::from_pem_files(&cert, &key).unwrap();
    let s = start_with(Limits::default(), false, Some(tls)).await;
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let addr = s.base.trim_start_matches("https://").to_string();
    let trusting = connector(Some(der));

    // An authenticated search over TLS, scoped to the token's agency.
    let resp = https_get(&addr, &trusting, "/api/v1/incidents?limit=3", BYT)
        .await
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(v["total"].as_u64().unwrap() > 0, "{v}");
    for h in v["hits"].as_array().unwrap() {
        assert_eq!(h["agency"], "byt");
    }
    // Deny by default still holds over TLS.
    let resp = https_get(&addr, &trusting, "/api/v1/incidents", "wrong-token")
        .await
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");

    // A client that does not trust the certificate fails the handshake.
    let err = https_get(&addr, &connector(None), "/healthz", BYT)
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut out),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&out).contains("HTTP/1.1 200"),
        "plain HTTP must not be served"
    );
    // Neither stopped the server.
    let resp = https_get(&addr, &trusting, "/healthz", BYT).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    s.stop().await;
}

#[test]
fn unreadable_certificate_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(dir.path());
    let missing = dir.path().join("missing.pem");
    let err = TlsConfig::from_pem_files(&missing, &key)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let err = TlsConfig::from_pem_files(&garbage, &key)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("garbage.pem"), "{err}");
    // A key that does not belong to the certificate.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, other_key, _) = certificate(&other);
    let err = TlsConfig::from_pem_files(&cert, &other_key)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("key.pem"), "{err}");
}
