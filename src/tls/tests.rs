//! The chain against the strictest clients we can run here (OpenSSL's `-x509_strict`,
//! Python with `VERIFY_X509_STRICT` as 3.13 sets it, rustls), and the files across starts.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;

const FILES: [&str; 4] = ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"];

fn generate(data_dir: &Path, extra_sans: &[&str]) -> ServerTls {
    let settings = TlsSettings {
        extra_sans: extra_sans.iter().map(|s| s.to_string()).collect(),
        ..TlsSettings::default()
    };
    load_or_generate(data_dir, &settings).expect("the local CA makes a chain")
}

fn given(data_dir: &Path, cert: Option<&Path>, key: Option<&Path>) -> Result<ServerTls, TlsError> {
    let settings = TlsSettings {
        cert: cert.map(Path::to_owned),
        key: key.map(Path::to_owned),
        extra_sans: Vec::new(),
    };
    load_or_generate(data_dir, &settings)
}

fn tls_file(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("tls").join(name)
}

fn contents(data_dir: &Path) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|name| std::fs::read(tls_file(data_dir, name)).unwrap())
        .collect()
}

/// The first certificate of `server.pem`, alone in `leaf.pem`, for tools that take one.
fn leaf_alone(data_dir: &Path) -> PathBuf {
    let chain = std::fs::read_to_string(tls_file(data_dir, "server.pem")).unwrap();
    let end = "-----END CERTIFICATE-----\n";
    let leaf = &chain[..chain.find(end).unwrap() + end.len()];
    let path = data_dir.join("leaf.pem");
    std::fs::write(&path, leaf).unwrap();
    path
}

/// `openssl` with `args`, which must succeed; its standard output.
fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI must be installed for this test");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A server on 127.0.0.1 that answers every TLS connection with `200 ok`.
async fn serve_ok(acceptor: TlsAcceptor) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let response =
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = tls.write_all(response).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    address
}

/// A GET over rustls trusting only `ca`, naming the server `name`: the ALPN protocol
/// agreed and the response.
async fn rustls_get(address: SocketAddr, ca: &Path, name: &str) -> (Vec<u8>, String) {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(address).await.unwrap();
    let server_name = ServerName::try_from(name).unwrap().to_owned();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .expect("the handshake succeeds");
    let alpn = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
    tls.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    (alpn, response)
}

const PYTHON_STRICT_GET: &str = r#"
import socket, ssl, sys
port, cafile, hostname = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=cafile)
# Python 3.13's defaults.
context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
context.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", port)) as sock:
    with context.wrap_socket(sock, server_hostname=hostname) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while chunk := tls.recv(4096):
            response += chunk
        print(tls.selected_alpn_protocol(), response.decode().splitlines()[0])
"#;

#[test]
fn the_first_start_makes_a_ca_and_a_chain_with_owner_only_keys() {
    let data_dir = tempfile::tempdir().unwrap();
    let served = generate(data_dir.path(), &[]);

    assert_eq!(
        served.ca_file.as_deref(),
        Some(tls_file(data_dir.path(), "ca.pem").as_path())
    );
    for key in ["ca-key.pem", "server-key.pem"] {
        let mode = std::fs::metadata(tls_file(data_dir.path(), key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let ca = std::fs::read_to_string(tls_file(data_dir.path(), "ca.pem")).unwrap();
    let chain = std::fs::read_to_string(tls_file(data_dir.path(), "server.pem")).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(chain.ends_with(&ca), "server.pem is the leaf then ca.pem");
    assert!(!tls_file(data_dir.path(), "server.pem.tmp").exists());
}

#[test]
fn a_second_start_reuses_every_file_byte_for_byte() {
    let data_dir = tempfile::tempdir().unwrap();
    generate(data_dir.path(), &["vaultsim.test"]);
    let first = contents(data_dir.path());
    generate(data_dir.path(), &["vaultsim.test"]);
    assert_eq!(contents(data_dir.path()), first);
}

#[test]
fn a_new_san_reissues_the_leaf_from_the_same_ca() {
    let data_dir = tempfile::tempdir().unwrap();
    generate(data_dir.path(), &[]);
    let before = contents(data_dir.path());

    generate(data_dir.path(), &["vaultsim.test", "10.1.2.3"]);
    let after = contents(data_dir.path());
    assert_eq!(after[..2], before[..2], "ca.pem and ca-key.pem are kept");
    assert_ne!(after[2], before[2], "server.pem is re-issued");

    let ca = tls_file(data_dir.path(), "ca.pem");
    let leaf = leaf_alone(data_dir.path());
    let text = openssl(&["x509", "-noout", "-text", "-in", path_str(&leaf)]);
    assert!(text.contains("DNS:vaultsim.test"), "{text}");
    assert!(text.contains("IP Address:10.1.2.3"), "{text}");
    openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        path_str(&ca),
        path_str(&leaf),
    ]);
}

#[test]
fn openssl_verifies_the_leaf_strictly_and_sees_the_extensions_clients_require() {
    let data_dir = tempfile::tempdir().unwrap();
    generate(data_dir.path(), &[]);
    let ca = tls_file(data_dir.path(), "ca.pem");
    let leaf = leaf_alone(data_dir.path());

    let verified = openssl(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "-CAfile",
        path_str(&ca),
        path_str(&leaf),
    ]);
    assert!(verified.contains(": OK"), "{verified}");

    let ca_text = openssl(&["x509", "-noout", "-text", "-in", path_str(&ca)]);
    for expected in [
        "Subject: CN = vaultsim local CA, O = vaultsim",
        "X509v3 Basic Constraints: critical\n                CA:TRUE",
        "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
    ] {
        assert!(ca_text.contains(expected), "{expected:?} in {ca_text}");
    }

    let leaf_text = openssl(&["x509", "-noout", "-text", "-in", path_str(&leaf)]);
    for expected in [
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment",
        "X509v3 Extended Key Usage: \n                TLS Web Server Authentication",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "DNS:localhost",
    ] {
        assert!(leaf_text.contains(expected), "{expected:?} in {leaf_text}");
    }
}

#[tokio::test]
async fn python_with_strict_x509_checks_accepts_the_server_by_address_and_by_name() {
    let data_dir = tempfile::tempdir().unwrap();
    let served = generate(data_dir.path(), &[]);
    let ca = served.ca_file.clone().unwrap();
    let address = serve_ok(served.acceptor).await;

    for hostname in ["127.0.0.1", "localhost"] {
        let output = tokio::process::Command::new("python3")
            .args(["-c", PYTHON_STRICT_GET, &address.port().to_string()])
            .arg(&ca)
            .arg(hostname)
            .output()
            .await
            .expect("python3 must be installed for this test");
        assert!(
            output.status.success(),
            "python3 refused the server as {hostname}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.trim(), "http/1.1 HTTP/1.1 200 OK", "as {hostname}");
    }
}

#[tokio::test]
async fn a_given_certificate_and_key_are_served() {
    let made = tempfile::tempdir().unwrap();
    generate(made.path(), &[]);
    let data_dir = tempfile::tempdir().unwrap();

    let served = given(
        data_dir.path(),
        Some(&tls_file(made.path(), "server.pem")),
        Some(&tls_file(made.path(), "server-key.pem")),
    )
    .expect("the given chain is served");
    assert!(served.ca_file.is_none());
    assert!(!data_dir.path().join("tls").exists(), "nothing generated");

    let address = serve_ok(served.acceptor).await;
    let (alpn, response) = rustls_get(address, &tls_file(made.path(), "ca.pem"), "localhost").await;
    assert_eq!(alpn, b"http/1.1");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

#[test]
fn given_keys_load_as_pkcs1_rsa_and_sec1_ec() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, pkcs8, key) = (
        dir.path().join("cert.pem"),
        dir.path().join("pkcs8-key.pem"),
        dir.path().join("key.pem"),
    );
    // openssl 3 writes PKCS#8 keys; `rsa -traditional` rewrites as PKCS#1, `ec` as SEC1.
    let cases: [(&[&str], &[&str], &str); 2] = [
        (
            &["-newkey", "rsa:2048"],
            &["rsa", "-traditional"],
            "RSA PRIVATE KEY",
        ),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &["ec"],
            "EC PRIVATE KEY",
        ),
    ];
    for (new_key, rewrite, label) in cases {
        let mut request = vec![
            "req",
            "-x509",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "2",
        ];
        request.extend(new_key);
        request.extend(["-keyout", path_str(&pkcs8), "-out", path_str(&cert)]);
        openssl(&request);
        let mut rewrite = rewrite.to_vec();
        rewrite.extend(["-in", path_str(&pkcs8), "-out", path_str(&key)]);
        openssl(&rewrite);
        let written = std::fs::read_to_string(&key).unwrap();
        assert!(
            written.starts_with(&format!("-----BEGIN {label}")),
            "{label}"
        );

        given(dir.path(), Some(&cert), Some(&key))
            .unwrap_or_else(|e| panic!("a {label} was refused: {e}"));
    }
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_naming_both_files() {
    let (one, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(one.path(), &[]);
    generate(other.path(), &[]);
    let cert = tls_file(one.path(), "server.pem");
    let key = tls_file(other.path(), "server-key.pem");

    let error = given(one.path(), Some(&cert), Some(&key)).err().unwrap();
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(path_str(&cert)) && message.contains(path_str(&key)));
    let key_body = std::fs::read_to_string(&key).unwrap();
    assert!(!message.contains(key_body.lines().nth(1).unwrap()));
}

#[test]
fn a_certificate_or_key_alone_or_missing_is_refused_naming_the_file() {
    let data_dir = tempfile::tempdir().unwrap();
    let cert = data_dir.path().join("cert.pem");
    let missing = data_dir.path().join("no-such-key.pem");
    for (cert, key, missing_part) in [
        (Some(&cert), None, "key"),
        (None, Some(&cert), "certificate"),
    ] {
        let error = given(
            data_dir.path(),
            cert.map(|p| p.as_path()),
            key.map(|p| p.as_path()),
        )
        .err()
        .unwrap();
        assert!(
            matches!(error, TlsError::HalfGiven { missing } if missing == missing_part),
            "{error}"
        );
    }

    generate(data_dir.path(), &[]);
    let error = given(
        data_dir.path(),
        Some(&tls_file(data_dir.path(), "server.pem")),
        Some(&missing),
    )
    .err()
    .unwrap();
    assert!(matches!(error, TlsError::Read { .. }), "{error}");
    assert!(error.to_string().contains(path_str(&missing)), "{error}");
}

#[test]
fn a_ca_without_its_key_is_reported_and_kept() {
    let data_dir = tempfile::tempdir().unwrap();
    generate(data_dir.path(), &[]);
    let ca = std::fs::read(tls_file(data_dir.path(), "ca.pem")).unwrap();
    std::fs::remove_file(tls_file(data_dir.path(), "ca-key.pem")).unwrap();

    let error = load_or_generate(data_dir.path(), &TlsSettings::default())
        .err()
        .unwrap();
    assert!(matches!(error, TlsError::UnusableLocalCa { .. }), "{error}");
    assert!(error.to_string().contains("ca-key.pem"), "{error}");
    assert_eq!(
        std::fs::read(tls_file(data_dir.path(), "ca.pem")).unwrap(),
        ca
    );
}

#[test]
fn a_damaged_or_foreign_leaf_is_reissued_from_the_same_ca() {
    let data_dir = tempfile::tempdir().unwrap();
    let foreign = tempfile::tempdir().unwrap();
    generate(data_dir.path(), &[]);
    generate(foreign.path(), &[]);
    let before = contents(data_dir.path());
    let ca = tls_file(data_dir.path(), "ca.pem");

    let replacements: [(&str, Vec<u8>); 2] = [
        ("server.pem", b"not a certificate".to_vec()),
        (
            "server.pem",
            std::fs::read(tls_file(foreign.path(), "server.pem")).unwrap(),
        ),
    ];
    for (name, replacement) in replacements {
        std::fs::write(tls_file(data_dir.path(), name), replacement).unwrap();
        generate(data_dir.path(), &[]);
        assert_eq!(
            contents(data_dir.path())[..2],
            before[..2],
            "the CA is kept"
        );
        let leaf = leaf_alone(data_dir.path());
        openssl(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            path_str(&ca),
            path_str(&leaf),
        ]);
    }
}

#[test]
fn a_san_that_is_no_name_is_refused() {
    let data_dir = tempfile::tempdir().unwrap();
    let settings = TlsSettings {
        extra_sans: vec!["not a name".into()],
        ..TlsSettings::default()
    };
    let error = load_or_generate(data_dir.path(), &settings).err().unwrap();
    assert!(
        matches!(error, TlsError::InvalidSan(ref san) if san == "not a name"),
        "{error}"
    );
}
