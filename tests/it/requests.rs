//! Request handling over the wire: edge cases real clients hit.

use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vaultsim::config::DEV_ACCOUNT_KEY;
use vaultsim_protocol::sas::{ServiceSas, ServiceSasBuilder};

use crate::helpers::{TestApp, ACCOUNT};

fn dev_key() -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DEV_ACCOUNT_KEY).unwrap()
}

/// A blob token valid for the next hour.
fn blob_token(container: &str, blob: &str, permissions: &str) -> ServiceSas {
    ServiceSasBuilder::for_blob(
        container,
        blob,
        permissions.parse().unwrap(),
        Utc::now() + chrono::Duration::hours(1),
    )
    .sign(ACCOUNT, &dev_key())
}

fn blob_sas(container: &str, blob: &str, permissions: &str) -> String {
    blob_token(container, blob, permissions).to_query_string()
}

#[tokio::test]
async fn set_blob_properties_answers_from_headers_even_when_a_body_is_announced_but_never_sent() {
    let app = TestApp::spawn_with_disk().await;
    let client = &app.client;
    let sas = blob_sas("disks", "d.vhd", "rw");
    let mut stream = tokio::net::TcpStream::connect(client.addr).await.unwrap();
    let request = format!(
        "PUT /{ACCOUNT}/disks/d.vhd?comp=properties&{sas} HTTP/1.1\r\nHost: {}\r\nContent-Length: 100\r\nx-ms-blob-content-length: 8192\r\n\r\n",
        client.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut reply))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let head = client
        .send(Method::HEAD, "/disks/d.vhd", "", &[], vec![])
        .await;
    assert_eq!(
        head.headers()["content-length"],
        "8192",
        "the resize took effect"
    );
}

#[tokio::test]
async fn a_refused_put_page_leaves_the_blob_as_it_was() {
    let app = TestApp::spawn_with_disk().await;
    let client = &app.client;
    let first = client
        .try_put_page("/disks/d.vhd", 0, vec![1u8; 1024])
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let before = client.get_blob("/disks/d.vhd").await.bytes().await.unwrap();

    let cases: [(&str, Vec<u8>, u16, &str); 4] = [
        ("bytes=100-611", vec![2u8; 512], 416, "InvalidPageRange"),
        ("bytes=3584-4607", vec![2u8; 1024], 416, "InvalidPageRange"),
        ("bytes=0-1023", vec![2u8; 512], 400, "InvalidHeaderValue"),
        ("bytes=0-511", vec![2u8; 512], 400, "InvalidHeaderValue"),
    ];
    for (i, (range, body, status, code)) in cases.into_iter().enumerate() {
        let page_write = if i == 3 { "scribble" } else { "update" };
        let response = client
            .send(
                Method::PUT,
                "/disks/d.vhd",
                "comp=page",
                &[("x-ms-page-write", page_write), ("x-ms-range", range)],
                body,
            )
            .await;
        assert_eq!(response.status(), status, "case {range} {page_write}");
        assert_eq!(response.headers()["x-ms-error-code"], code);
        let text = response.text().await.unwrap();
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
    }
    let after = client.get_blob("/disks/d.vhd").await.bytes().await.unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn every_response_carries_the_azure_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .send(
            Method::GET,
            "/missing",
            "restype=container",
            &[("x-ms-client-request-id", "abc-123")],
            vec![],
        )
        .await;
    assert_eq!(response.status(), 404);
    let h = response.headers();
    assert_eq!(h["x-ms-error-code"], "ContainerNotFound");
    assert_eq!(h["x-ms-client-request-id"], "abc-123");
    assert_eq!(h["x-ms-version"], crate::helpers::VERSION);
    assert!(h.contains_key("x-ms-request-id") && h.contains_key("date"));
}

/// A read token for `disks/d.vhd` limited to the addresses in `sip`.
fn ip_limited_sas(sip: &str) -> String {
    let mut token = blob_token("disks", "d.vhd", "r");
    token.sip = Some(sip.to_owned());
    token.sig = vaultsim_protocol::signing::sign(
        &dev_key(),
        &token.string_to_sign(ACCOUNT, "disks", Some("d.vhd"), None),
    );
    token.to_query_string()
}

#[tokio::test]
async fn a_sas_limited_to_other_addresses_is_refused_with_source_ip_mismatch() {
    let app = TestApp::spawn_with_disk().await;
    let client = &app.client;
    let http = reqwest::Client::new();
    let url = client.url("/disks/d.vhd");
    for (sip, status) in [
        ("127.0.0.1", 200),
        ("127.0.0.0-127.0.0.255", 200),
        ("10.1.2.3", 403),
    ] {
        let response = http
            .get(format!("{url}?{}", ip_limited_sas(sip)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "sip={sip}");
        if status == 403 {
            assert_eq!(
                response.headers()["x-ms-error-code"],
                "AuthorizationSourceIPMismatch"
            );
        }
    }
}

/// A disk's snapshot SAS (`sp=c`) may take snapshots and nothing else: Put Block, Lease and
/// Incremental Copy on the disk are refused for the permission (403
/// `AuthorizationPermissionMismatch`) before anything about the operation itself (the
/// blob's type, a missing header, an unsupported feature) is looked at, as Azure does.
#[tokio::test]
async fn a_disk_snapshot_sas_is_refused_other_writes_for_its_permission_first() {
    let app = TestApp::spawn_with_disk().await;
    let http = reqwest::Client::new();
    let url = app.client.url("/disks/d.vhd");
    let sas = blob_sas("disks", "d.vhd", "c");
    let source = format!("{url}?snapshot=2026-01-01T00:00:00.0000000Z");
    // (query, a header); every request carries a few bytes, which Put Block needs.
    let cases = [
        ("comp=block&blockid=YWFhYQ%3D%3D", None),
        ("comp=lease", Some(("x-ms-lease-action", "acquire"))),
        ("comp=lease", None),
        (
            "comp=incrementalcopy",
            Some(("x-ms-copy-source", source.as_str())),
        ),
        ("", Some(("x-ms-copy-source", source.as_str()))),
    ];
    for (query, header) in cases {
        let mut request = http
            .put(format!("{url}?{query}&{sas}"))
            .header("x-ms-version", crate::helpers::VERSION)
            .body(b"data".to_vec());
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{query} {header:?}");
        assert_eq!(
            response.headers()["x-ms-error-code"],
            "AuthorizationPermissionMismatch",
            "{query} {header:?}"
        );
    }
    // What the token is for still works.
    let snapshot = http
        .put(format!("{url}?comp=snapshot&{sas}"))
        .header("x-ms-version", crate::helpers::VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(snapshot.status(), 201);
}

/// An upload refused before its body was read (here: its container does not exist).
fn refused_upload_head(app: &TestApp, content_length: usize) -> String {
    let sas = blob_sas("no-such-container", "b", "w");
    format!(
        "PUT /{ACCOUNT}/no-such-container/b?{sas} HTTP/1.1\r\nHost: {}\r\nx-ms-blob-type: BlockBlob\r\nContent-Length: {content_length}\r\n\r\n",
        app.client.addr
    )
}

/// Reads one response (head and a body of its `Content-Length`) off `stream`.
async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(
            n > 0,
            "the connection closed before a whole response: {text}"
        );
        seen.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_refused_upload_whose_body_arrived_keeps_the_connection_for_the_next_request() {
    let app = TestApp::spawn().await;
    let mut stream = tokio::net::TcpStream::connect(app.client.addr)
        .await
        .unwrap();
    let request = refused_upload_head(&app, 5) + "hello";
    stream.write_all(request.as_bytes()).await.unwrap();
    let refused = read_response(&mut stream).await;
    assert!(refused.starts_with("HTTP/1.1 404"), "{refused}");
    assert!(
        !refused.to_ascii_lowercase().contains("connection: close"),
        "{refused}"
    );

    let next = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.client.addr);
    stream.write_all(next.as_bytes()).await.unwrap();
    let answered = read_response(&mut stream).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[tokio::test]
async fn a_refused_upload_whose_body_is_still_coming_says_the_connection_closes() {
    let app = TestApp::spawn().await;
    let mut stream = tokio::net::TcpStream::connect(app.client.addr)
        .await
        .unwrap();
    stream
        .write_all(refused_upload_head(&app, 5).as_bytes())
        .await
        .unwrap();
    // The answer comes before the body: the client must not send another request here.
    let refused = read_response(&mut stream).await;
    assert!(refused.starts_with("HTTP/1.1 404"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("connection: close"),
        "{refused}"
    );
}
