//! Secrets never reach the log: SAS signatures and account keys stay out, even at debug
//! level and on refused requests.

use chrono::{Duration, Utc};
use vaultsim::config::DEV_ACCOUNT_KEY;
use vaultsim_protocol::sas::ServiceSasBuilder;

use crate::helpers::{ServiceProcess, ACCOUNT};

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
