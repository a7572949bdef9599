//! The web dashboard over the wire: the page at `/` and every asset it loads, on the
//! management API's HTTP and HTTPS listeners, with their content types, validators and a
//! same-origin-only Content-Security-Policy; unknown assets 404; and the two `/_sim` reads
//! the page relies on: whether to sign in (`/_sim/auth`) and what the engine recorded of a
//! vault's backup runs (`/_sim/.../backupRuns`).

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};

use crate::backup::e2e::{
    protected_vm, recovery_points, serve_tasks, wait_for_job, Behaviour, GROUP, VAULT, VM,
};
use crate::management::app::{Backend, ManagementApp};

struct Fetched {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Fetched {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn fetch(app: &ManagementApp, url: &str, if_none_match: Option<&str>) -> Fetched {
    let mut request = app.http.get(url);
    if let Some(etag) = if_none_match {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.expect("the service answers");
    Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// What `/_dashboard/...` names the page and the scripts load: `src="/_dashboard/x"`,
/// `href="/_dashboard/x"` and `from "./x.js"`.
fn referenced_assets(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for marker in ["\"/_dashboard/", "from \"./"] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            names.insert(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    names
}

fn expected_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap() {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        other => panic!("an asset of unexpected kind: {other}"),
    }
}

fn assert_strict_policy(fetched: &Fetched, what: &str) {
    let policy = fetched.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: {directive} in {policy}"
        );
    }
    assert!(!policy.contains("unsafe"), "{what}: {policy}");
    assert_eq!(
        fetched.header("x-content-type-options"),
        "nosniff",
        "{what}"
    );
}

#[tokio::test]
async fn the_page_and_every_asset_it_loads_are_served_over_http_and_https() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    for base in [
        format!("http://{}", app.addr),
        format!("https://{}", app.https_addr),
    ] {
        let page = fetch(&app, &format!("{base}/"), None).await;
        assert_eq!(page.status, 200, "{base}/");
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(page.header("cache-control"), "no-cache");
        assert_strict_policy(&page, &format!("{base}/"));
        assert!(page.body.contains("<title>vaultsim dashboard</title>"));

        // Every asset the page names, and every module the scripts import, transitively.
        let mut pending: Vec<String> = referenced_assets(&page.body).into_iter().collect();
        let mut served = BTreeSet::new();
        while let Some(name) = pending.pop() {
            if !served.insert(name.clone()) {
                continue;
            }
            let url = format!("{base}/_dashboard/{name}");
            let asset = fetch(&app, &url, None).await;
            assert_eq!(asset.status, 200, "{url}");
            assert_eq!(asset.header("content-type"), expected_type(&name), "{url}");
            assert_eq!(asset.header("cache-control"), "no-cache", "{url}");
            assert!(!asset.header("etag").is_empty(), "{url}");
            assert_strict_policy(&asset, &url);
            if name.ends_with(".js") {
                pending.extend(referenced_assets(&asset.body));
            }
        }
        for name in ["app.js", "api.js", "dashboard.css", "favicon.svg"] {
            assert!(served.contains(name), "{name} in {served:?}");
        }
    }
}

#[tokio::test]
async fn an_unknown_asset_is_not_found() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    for name in ["nope.js", "..%2Fmain.rs", "index.html.bak"] {
        let url = format!("http://{}/_dashboard/{name}", app.addr);
        let missing = fetch(&app, &url, None).await;
        assert_eq!(missing.status, 404, "{url}");
        assert_eq!(missing.header("x-content-type-options"), "nosniff");
    }
}

#[tokio::test]
async fn an_asset_revalidated_with_its_etag_is_not_sent_again() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let url = format!("http://{}/_dashboard/app.js", app.addr);
    let first = fetch(&app, &url, None).await;
    let etag = first.header("etag").to_owned();
    let again = fetch(&app, &url, Some(&etag)).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), etag);
    let changed = fetch(&app, &url, Some("\"something-else\"")).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, first.body);
}

#[tokio::test]
async fn the_page_learns_whether_to_sign_in_without_a_token() {
    let mut app = ManagementApp::spawn(Backend::Sqlite).await;
    let url = format!("http://{}/_sim/auth", app.addr);
    let answer = fetch(&app, &url, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer
        .header(CONTENT_TYPE.as_str())
        .starts_with("application/json"));
    assert_eq!(answer.body, r#"{"required":true}"#);

    app.crash_and_restart_with(|config| config.no_auth = true)
        .await;
    let answer = fetch(&app, &url, None).await;
    assert_eq!(answer.body, r#"{"required":false}"#);
}

#[tokio::test]
async fn backup_runs_show_the_scheduled_instant_the_trigger_and_the_point_made() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let vm = protected_vm(&app, "2026-03-01T10:00:00Z").await;
    let _served = serve_tasks(vm, Behaviour::AppConsistent, Duration::from_secs(60));
    let on_demand = app.backup_now(GROUP, VAULT, VM).await;
    let job = wait_for_job(&app, &on_demand).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    // The policy runs daily at 02:00: the next day's run is scheduled.
    app.advance_by("PT18H", 30.0).await;

    let runs_path = format!("/_sim{}/backupRuns", app.vault_path(GROUP, VAULT));
    let runs = app.get(&runs_path).await;
    assert_eq!(runs.status, 200, "{:?}", runs.body);
    let runs = runs.body["value"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (scheduled, manual) = (&runs[0], &runs[1]);
    assert_eq!(scheduled["trigger"], "Scheduled", "{scheduled}");
    assert_eq!(scheduled["scheduledAt"], "2026-03-02T02:00:00.000000Z");
    assert_eq!(manual["jobId"], on_demand.as_str());
    assert_eq!(manual["trigger"], "OnDemand");
    assert_eq!(manual["scheduledAt"], "2026-03-01T10:00:00.000000Z");
    assert_eq!(manual["attempts"], 1);
    assert_eq!(manual["state"], "Completed");

    let points = recovery_points(&app).await;
    let names: BTreeSet<&str> = points.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for run in &runs {
        let name = run["recoveryPointName"].as_str().expect("a point per run");
        assert!(names.contains(name), "{name} in {names:?}");
        assert!(run["recoveryPointExpiresAt"].is_string(), "{run}");
    }
    // Instant snapshots are kept 2 days by the test policy.
    assert_eq!(
        manual["instantSnapshotsExpireAt"],
        "2026-03-03T10:00:00.000000Z"
    );

    let unknown = app
        .get(&format!(
            "/_sim{}/backupRuns",
            app.vault_path(GROUP, "nope")
        ))
        .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
    let anonymous = app
        .send_as(None, reqwest::Method::GET, &runs_path, None)
        .await;
    assert_eq!(anonymous.status, 401);
}
