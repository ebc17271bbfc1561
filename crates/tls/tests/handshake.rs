//! Handshakes between identities from `certs::generate`: who gets through a mutual-TLS
//! listener and who is refused.

use std::path::Path;
use std::time::Duration;

use axum::serve::Listener;
use tiercache_tls::certs::{self, CertOptions};
use tiercache_tls::{ClientAuth, Identity, TlsFiles, TlsListener, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn identity(dir: &Path, role: &str) -> Identity {
    Identity::load(&certs::role_files(dir, role)).unwrap()
}

/// A listener that answers each connection's first byte with its successor, then closes.
async fn echo_server(identity: &Identity, client_auth: ClientAuth) -> std::net::SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut listener = TlsListener::new(
        tcp,
        identity.server_config(client_auth).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _peer) = listener.accept().await;
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_ok() {
                    let _ = stream.write_all(&[byte[0] + 1]).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    address
}

/// Sends one byte and reads the answer; an error names the step that failed.
async fn exchange(address: std::net::SocketAddr, client: &Identity) -> Result<u8, String> {
    let mut stream = connect(&address.to_string(), client.client_config().unwrap()).await?;
    stream.write_all(&[41]).await.map_err(|e| e.to_string())?;
    let mut answer = [0u8; 1];
    // With TLS 1.3 the server judges the client's certificate after the client considers
    // the handshake done: a refusal shows on the first read.
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer[0])
}

#[tokio::test]
async fn mutual_tls_admits_only_certificates_of_its_ca() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    certs::generate(ours.path(), &CertOptions::default()).unwrap();
    certs::generate(theirs.path(), &CertOptions::default()).unwrap();
    let server = echo_server(&identity(ours.path(), "store"), ClientAuth::Required).await;

    assert_eq!(
        exchange(server, &identity(ours.path(), "api")).await,
        Ok(42)
    );

    // A client with a certificate from another CA (trusting ours, so only its own
    // certificate is wrong).
    let impostor = Identity::load(&TlsFiles {
        ca: ours.path().join("ca.pem"),
        ..certs::role_files(theirs.path(), "api")
    })
    .unwrap();
    let refused = exchange(server, &impostor).await.unwrap_err();
    assert!(
        refused.contains("certificate") || refused.contains("alert"),
        "{refused}"
    );

    // A client with no certificate at all.
    let anonymous = Identity::load(&TlsFiles {
        ca: ours.path().join("ca.pem"),
        cert: None,
        key: None,
    })
    .unwrap();
    let refused = exchange(server, &anonymous).await.unwrap_err();
    assert!(
        refused.contains("certificate") || refused.contains("alert"),
        "{refused}"
    );

    // The server keeps serving the right clients after refusals.
    assert_eq!(
        exchange(server, &identity(ours.path(), "client")).await,
        Ok(42)
    );
}

#[tokio::test]
async fn a_client_refuses_a_server_of_another_ca() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    certs::generate(ours.path(), &CertOptions::default()).unwrap();
    certs::generate(theirs.path(), &CertOptions::default()).unwrap();
    let server = echo_server(&identity(theirs.path(), "store"), ClientAuth::None).await;
    let refused = exchange(server, &identity(ours.path(), "api"))
        .await
        .unwrap_err();
    assert!(refused.contains("TLS handshake"), "{refused}");
    assert!(
        refused.contains("UnknownIssuer") || refused.contains("issuer"),
        "{refused}"
    );
}

#[tokio::test]
async fn server_only_tls_admits_clients_without_certificates() {
    let dir = tempfile::tempdir().unwrap();
    certs::generate(dir.path(), &CertOptions::default()).unwrap();
    let server = echo_server(&identity(dir.path(), "api"), ClientAuth::None).await;
    let anonymous = Identity::load(&TlsFiles {
        ca: dir.path().join("ca.pem"),
        cert: None,
        key: None,
    })
    .unwrap();
    assert_eq!(exchange(server, &anonymous).await, Ok(42));
}

#[tokio::test]
async fn a_silent_client_does_not_hold_up_others() {
    let dir = tempfile::tempdir().unwrap();
    certs::generate(dir.path(), &CertOptions::default()).unwrap();
    let server = echo_server(&identity(dir.path(), "store"), ClientAuth::Required).await;
    // Connections that never start their handshake.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(tokio::net::TcpStream::connect(server).await.unwrap());
    }
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        exchange(server, &identity(dir.path(), "api")),
    )
    .await
    .expect("a handshake waited behind silent connections");
    assert_eq!(answer, Ok(42));
}

#[test]
fn bad_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    certs::generate(dir.path(), &CertOptions::default()).unwrap();
    let missing = Identity::load(&TlsFiles {
        ca: dir.path().join("nope.pem"),
        cert: None,
        key: None,
    })
    .unwrap_err();
    assert!(missing.to_string().contains("nope.pem"), "{missing}");

    let not_a_cert = Identity::load(&TlsFiles {
        ca: dir.path().join("ca.key"),
        cert: None,
        key: None,
    })
    .unwrap_err();
    assert!(
        not_a_cert.to_string().contains("no PEM certificate"),
        "{not_a_cert}"
    );

    let wrong_key = Identity::load(&TlsFiles {
        ca: dir.path().join("ca.pem"),
        cert: Some(dir.path().join("store.pem")),
        key: Some(dir.path().join("api.key")),
    })
    .unwrap_err();
    assert!(
        wrong_key.to_string().contains("does not fit"),
        "{wrong_key}"
    );

    let half = Identity::load(&TlsFiles {
        ca: dir.path().join("ca.pem"),
        cert: Some(dir.path().join("store.pem")),
        key: None,
    })
    .unwrap_err();
    assert!(half.to_string().contains("without its key"), "{half}");
}
