//! Secrets never reach the log: SAS signatures and account keys stay out, even at debug
//! level and on refused requests. Logs written to a pipe or a file carry no colour codes,
//! and `--log-format json` writes one JSON object a line.

use chrono::{Duration, Utc};
use vaultsim::config::DEV_ACCOUNT_KEY;
use vaultsim_protocol::sas::ServiceSasBuilder;

use crate::helpers::{serve_command, ServiceProcess, ACCOUNT};

#[tokio::test]
async fn sas_signatures_and_keys_stay_out_of_debug_logs() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(data.path(), "debug");
    let client = service.client();
    assert_eq!(client.create_container("logs").await.status(), 201);
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DEV_ACCOUNT_KEY)
        .unwrap();
    let token = ServiceSasBuilder::for_blob(
        "logs",
        "status.json",
        "rcw".parse().unwrap(),
        Utc::now() + Duration::hours(1),
    )
    .sign(ACCOUNT, &key);
    let query = token.to_query_string();
    let http = reqwest::Client::new();
    let url = client.url("/logs/status.json");
    let ok = http
        .put(format!("{url}?{query}"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    let forged = query.replace("sig=", "sig=AAAA");
    let refused = http.get(format!("{url}?{forged}")).send().await.unwrap();
    assert_eq!(refused.status(), 403);

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = service.log();
    assert!(
        log.contains("sig=REDACTED"),
        "requests are logged, redacted:\n{log}"
    );
    let encoded_sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .unwrap();
    for secret in [token.sig.as_str(), encoded_sig, DEV_ACCOUNT_KEY] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
}

/// Without a terminal (and without `NO_COLOR`, which the helper sets) the text log is plain.
#[test]
fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let data = tempfile::tempdir().unwrap();
    let mut command = serve_command(data.path(), "info");
    command.env_remove("NO_COLOR");
    let service = ServiceProcess::spawn(command);
    let log = service.log();
    assert!(log.contains("blob endpoint listening addr="), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log:\n{log:?}");
}

#[test]
fn the_json_log_format_writes_one_object_per_line() {
    let data = tempfile::tempdir().unwrap();
    let mut command = serve_command(data.path(), "info");
    command.env("VAULTSIM_LOG_FORMAT", "json");
    let service = ServiceProcess::spawn(command);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = service.log();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let listening = events
        .iter()
        .find(|e| e["message"] == "management API listening")
        .unwrap_or_else(|| panic!("no listening event:\n{log}"));
    assert_eq!(listening["level"], "INFO", "{listening}");
    assert!(listening["timestamp"].is_string(), "{listening}");
    assert!(
        listening["addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{listening}"
    );
}

#[test]
fn an_unknown_log_format_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let output = serve_command(data.path(), "info")
        .args(["--log-format", "xml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--log-format"), "{stderr}");
}

/// ARM's ids on every management response; the request's log line names them.
#[tokio::test]
async fn management_responses_carry_arms_request_ids_and_the_log_names_them() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(data.path(), "debug");
    let management = service.listening("management API");
    let url = format!("http://{management}/metadata/endpoints?api-version=2022-09-01");
    let http = reqwest::Client::new();
    let given = http
        .get(&url)
        .header("x-ms-client-request-id", "a1b2c3d4-client")
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let request_id = header(&given, "x-ms-request-id");
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    assert_eq!(
        header(&given, "x-ms-correlation-request-id"),
        "a1b2c3d4-client"
    );
    let routing = header(&given, "x-ms-routing-request-id");
    assert!(
        routing.starts_with("VAULTSIM:") && routing.ends_with(&request_id),
        "{routing}"
    );
    let plain = http.get(&url).send().await.unwrap();
    let second = header(&plain, "x-ms-request-id");
    assert_ne!(second, request_id);
    assert_eq!(header(&plain, "x-ms-correlation-request-id"), second);

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = service.log();
    assert!(
        log.lines()
            .any(|line| line.contains(&format!("request_id={request_id}"))
                && line.contains("correlation_id=a1b2c3d4-client")),
        "no log line names the request:\n{log}"
    );
}
