//! The requester with real pre/post scripts in a temporary config directory, simulated
//! writers, and a recording freezer: every decision path of §3.3 and §3.7.
//!
//! The permission checks need root-owned files, so these tests must run as root (as they do
//! in CI). Elsewhere they panic, unless `VAULTSIM_SKIP_ROOT_TESTS=1` skips them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vaultsim_agent::os::GuestOs;
use vaultsim_agent::vss::freeze::{FreezeFailure, Freezer, ThawFailure};
use vaultsim_agent::vss::log::ExtensionLog;
use vaultsim_agent::vss::requester::{QuiesceOutcome, QuiesceSettings, Requester, SnapshotResult};
use vaultsim_agent::vss::writers::{WriterPhase, WriterSpec};
use vaultsim_protocol::extension::status::SnapshotInfo;

/// A config directory of its own, and an events file that scripts, the freezer and the
/// snapshot step append to, so a test sees the order things happened in.
struct Guest {
    dir: tempfile::TempDir,
}

impl Guest {
    /// `None` when the tests are not root and `VAULTSIM_SKIP_ROOT_TESTS=1`.
    fn new() -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let probe = dir.path().join("probe");
        fs::write(&probe, "").unwrap();
        if fs::metadata(&probe).unwrap().uid() != 0 {
            if std::env::var("VAULTSIM_SKIP_ROOT_TESTS").as_deref() == Ok("1") {
                eprintln!("skipped: not root and VAULTSIM_SKIP_ROOT_TESTS=1");
                return None;
            }
            panic!(
                "these tests check root ownership of scripts and configs: run them as root, \
                 or set VAULTSIM_SKIP_ROOT_TESTS=1 to skip them"
            );
        }
        Some(Self { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn events_file(&self) -> PathBuf {
        self.path("events")
    }

    fn events(&self) -> Vec<String> {
        fs::read_to_string(self.events_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Writes a script; `{events}` in `body` becomes the events file.
    fn script(&self, name: &str, body: &str, mode: u32) -> PathBuf {
        let path = self.path(name);
        let body = body.replace("{events}", &self.events_file().display().to_string());
        write_with_mode(&path, &body, mode);
        path
    }

    /// `pre.sh` and `post.sh` (mode 700) and a plugin config naming them, `extra` merged in.
    fn scripts(&self, pre: &str, post: &str, extra: Value) {
        let pre = self.script("pre.sh", pre, 0o700);
        let post = self.script("post.sh", post, 0o700);
        let mut config = json!({"preScriptLocation": pre, "postScriptLocation": post});
        for (key, value) in extra.as_object().unwrap() {
            config[key] = value.clone();
        }
        self.plugin_config(&config.to_string(), 0o600);
    }

    fn plugin_config(&self, text: &str, mode: u32) {
        write_with_mode(&self.path("VMSnapshotScriptPluginConfig.json"), text, mode);
    }

    fn host_conf(&self, text: &str, mode: u32) {
        write_with_mode(&self.path("VMSnapshotPluginHost.conf"), text, mode);
    }

    fn settings(&self) -> QuiesceSettings {
        QuiesceSettings {
            config_dir: self.dir.path().to_owned(),
            ..QuiesceSettings::default()
        }
    }
}

fn write_with_mode(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn record(events: &Path, event: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(events)
        .unwrap();
    writeln!(file, "{event}").unwrap();
}

const PRE_OK: &str = "echo pre >> {events}\n";
const POST_OK: &str = "echo post >> {events}\n";
const PRE_FAILS: &str = "echo pre >> {events}\nexit 3\n";

/// Counts freezes and thaws, records them as events, and fails where told to.
#[derive(Clone)]
struct RecordingFreezer {
    events: PathBuf,
    freezes: Arc<AtomicUsize>,
    thaws: Arc<AtomicUsize>,
    freeze_failure: Option<FreezeFailure>,
    thaw_failure: Option<ThawFailure>,
    /// What a freeze says it covered nothing of.
    left_out: Vec<String>,
}

impl RecordingFreezer {
    fn new(guest: &Guest) -> Self {
        Self {
            events: guest.events_file(),
            freezes: Arc::default(),
            thaws: Arc::default(),
            freeze_failure: None,
            thaw_failure: None,
            left_out: Vec::new(),
        }
    }

    fn calls(&self) -> (usize, usize) {
        (
            self.freezes.load(Ordering::SeqCst),
            self.thaws.load(Ordering::SeqCst),
        )
    }
}

/// Proof of a freeze, handed back at the thaw, with the disks it left out.
struct Frozen(Vec<String>);

impl Freezer for RecordingFreezer {
    type Frozen = Frozen;

    async fn freeze(&self) -> Result<Frozen, FreezeFailure> {
        self.freezes.fetch_add(1, Ordering::SeqCst);
        record(&self.events, "freeze");
        match &self.freeze_failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(Frozen(self.left_out.clone())),
        }
    }

    async fn thaw(&self, _: Frozen) -> Result<(), ThawFailure> {
        self.thaws.fetch_add(1, Ordering::SeqCst);
        record(&self.events, "thaw");
        match &self.thaw_failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    fn left_out<'a>(&self, frozen: &'a Frozen) -> &'a [String] {
        &frozen.0
    }
}

fn disk_snapshot() -> SnapshotInfo {
    SnapshotInfo {
        is_successful: true,
        snapshot_uri: Some("https://acct.blob/disks/os.vhd?snapshot=2024-01-01T00:00:00Z".into()),
        error_message: None,
        blob_uri: Some("https://acct.blob/disks/os.vhd".into()),
        direct_drive_snapshot_identifier: None,
    }
}

fn snapshot_succeeds() -> SnapshotResult {
    SnapshotResult {
        code: 1,
        health_status_code: 1,
        message: String::new(),
        snapshots: vec![disk_snapshot()],
    }
}

/// Runs the requester; the snapshot step records "snapshot", waits `snapshot_takes`, and
/// returns `result`.
async fn run_with(
    guest: &Guest,
    settings: QuiesceSettings,
    freezer: &RecordingFreezer,
    result: SnapshotResult,
    snapshot_takes: Duration,
) -> (QuiesceOutcome, ExtensionLog) {
    let log = ExtensionLog::new();
    let events = guest.events_file();
    let outcome = Requester::new(settings, freezer.clone())
        .run(&log, move || async move {
            record(&events, "snapshot");
            tokio::time::sleep(snapshot_takes).await;
            result
        })
        .await;
    (outcome, log)
}

async fn run(guest: &Guest, freezer: &RecordingFreezer) -> (QuiesceOutcome, ExtensionLog) {
    run_with(
        guest,
        guest.settings(),
        freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await
}

fn codes(outcome: &QuiesceOutcome) -> (u32, u32) {
    (outcome.code, outcome.health_status_code)
}

fn events(list: &[&str]) -> Vec<String> {
    list.iter().map(|event| event.to_string()).collect()
}

#[tokio::test]
async fn pre_and_post_scripts_that_succeed_make_it_app_consistent() {
    let Some(guest) = Guest::new() else { return };
    let pre = "echo \"pre $1 $2\" >> {events}\necho hello from the pre-script\n\
               echo trouble >&2\n";
    guest.scripts(
        pre,
        POST_OK,
        json!({"preScriptParams": ["a", "b c"], "appName": "sales"}),
    );
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, log) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (0, 0), "{outcome:?}");
    assert_eq!(
        outcome.message,
        "Enable Succeeded with App Consistent Snapshot"
    );
    assert!(!outcome.crash_consistent);
    assert_eq!(outcome.snapshots, Some(vec![disk_snapshot()]));
    assert!(outcome.frozen_for.is_some());
    assert_eq!(
        guest.events(),
        events(&["pre a b c", "freeze", "snapshot", "thaw", "post"])
    );
    assert_eq!(freezer.calls(), (1, 1));
    let keys: Vec<&str> = outcome
        .telemetry
        .iter()
        .map(|(key, _)| key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["appName", "FreezeTime", "snapshotTimeTaken", "ThawTime"]
    );
    assert_eq!(outcome.telemetry[0].1, "sales");
    let text = log.text();
    assert!(
        text.contains("  Info  hello from the pre-script\n"),
        "{text}"
    );
    assert!(text.contains("  Info  trouble\n"), "{text}");
    assert!(!text.contains("b c"), "parameters are not logged: {text}");
}

#[tokio::test]
async fn a_failed_pre_script_with_continue_on_failure_gives_a_file_system_consistent_snapshot() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_FAILS, POST_OK, json!({}));
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 300), "{outcome:?}");
    assert!(
        outcome.message.contains("pre-script"),
        "{}",
        outcome.message
    );
    assert!(outcome.snapshots.is_some());
    assert_eq!(
        guest.events(),
        events(&["pre", "freeze", "snapshot", "thaw", "post"])
    );
}

#[tokio::test]
async fn a_failed_pre_script_without_continue_on_failure_fails_without_a_snapshot_but_post_runs() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(
        PRE_FAILS,
        POST_OK,
        json!({"continueBackupOnFailure": false}),
    );
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (300, 300), "{outcome:?}");
    assert_eq!(outcome.snapshots, None);
    assert_eq!(outcome.frozen_for, None);
    assert_eq!(guest.events(), events(&["pre", "post"]));
    assert_eq!(freezer.calls(), (0, 0));
}

#[tokio::test]
async fn a_failed_post_script_without_continue_on_failure_fails_the_run_after_the_snapshot() {
    let Some(guest) = Guest::new() else { return };
    let post = "echo post >> {events}\nexit 1\n";
    guest.scripts(PRE_OK, post, json!({"continueBackupOnFailure": false}));
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (301, 301), "{outcome:?}");
    assert_eq!(outcome.snapshots, Some(vec![disk_snapshot()]));
    assert_eq!(
        guest.events(),
        events(&["pre", "freeze", "snapshot", "thaw", "post"])
    );
}

#[tokio::test]
async fn a_failed_post_script_with_continue_on_failure_downgrades_to_file_system_consistent() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, "exit 9\n", json!({}));
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 301), "{outcome:?}");
}

#[tokio::test]
async fn script_checks_refuse_missing_or_loose_scripts_and_no_script_runs() {
    let Some(guest) = Guest::new() else { return };
    // (what to break, expected health code)
    let cases: [(&str, u32); 4] = [
        ("missing pre", 302),
        ("missing post", 303),
        ("loose pre", 306),
        ("loose post", 307),
    ];
    for (case, expected) in cases {
        let _ = fs::remove_file(guest.events_file());
        guest.scripts(PRE_OK, POST_OK, json!({}));
        match case {
            "missing pre" => fs::remove_file(guest.path("pre.sh")).unwrap(),
            "missing post" => fs::remove_file(guest.path("post.sh")).unwrap(),
            "loose pre" => {
                fs::set_permissions(guest.path("pre.sh"), fs::Permissions::from_mode(0o755))
                    .unwrap()
            }
            _ => fs::set_permissions(guest.path("post.sh"), fs::Permissions::from_mode(0o720))
                .unwrap(),
        }
        let freezer = RecordingFreezer::new(&guest);
        let (outcome, _) = run(&guest, &freezer).await;
        assert_eq!(codes(&outcome), (1, expected), "{case}: {outcome:?}");
        assert_eq!(
            guest.events(),
            events(&["freeze", "snapshot", "thaw"]),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_script_check_failure_without_continue_on_failure_fails_with_its_code() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({"continueBackupOnFailure": false}));
    fs::remove_file(guest.path("pre.sh")).unwrap();
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (302, 302), "{outcome:?}");
    assert_eq!(outcome.snapshots, None);
    assert_eq!(freezer.calls(), (0, 0));
    assert!(guest.events().is_empty());
}

#[tokio::test]
async fn a_script_that_times_out_is_killed_and_reported() {
    let Some(guest) = Guest::new() else { return };
    let pre = "(sleep 2; echo orphan >> {events}) &\nsleep 3\necho late >> {events}\n";
    guest.scripts(pre, POST_OK, json!({"timeoutInSeconds": 1}));
    let freezer = RecordingFreezer::new(&guest);
    let started = Instant::now();
    let (outcome, _) = run(&guest, &freezer).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(codes(&outcome), (1, 308), "{outcome:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        guest.events(),
        events(&["freeze", "snapshot", "thaw", "post"]),
        "the timed-out script and what it started were killed before they wrote"
    );
}

#[tokio::test]
async fn a_failing_script_is_rerun_up_to_its_retries() {
    let Some(guest) = Guest::new() else { return };
    let pre = "echo try >> {events}\n[ $(grep -c try {events}) -ge 2 ]\n";
    guest.scripts(pre, POST_OK, json!({"preScriptNoOfRetries": 3}));
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, log) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (0, 0), "{outcome:?}");
    assert_eq!(
        guest.events(),
        events(&["try", "try", "freeze", "snapshot", "thaw", "post"])
    );
    assert!(log.text().contains("retry 1 of 3"));
}

#[tokio::test]
async fn retries_beyond_the_hosts_wait_end_in_a_host_timeout() {
    let Some(guest) = Guest::new() else { return };
    // The host waits int(1/1)+2 = 3 polls of 1 s; five 0.8-s failures do not fit.
    let pre = "sleep 0.8\nexit 1\n";
    guest.scripts(
        pre,
        POST_OK,
        json!({"timeoutInSeconds": 1, "ScriptsExecutionPollTimeSeconds": 1, "preScriptNoOfRetries": 5}),
    );
    let freezer = RecordingFreezer::new(&guest);
    let started = Instant::now();
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 310), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn without_a_plugin_config_the_backup_is_plainly_file_system_consistent() {
    let Some(guest) = Guest::new() else { return };
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, log) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 1), "{outcome:?}");
    assert_eq!(guest.events(), events(&["freeze", "snapshot", "thaw"]));
    assert!(log.text().contains("scripts not configured"));
}

#[tokio::test]
async fn a_plugin_config_that_is_not_json_skips_the_scripts() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    guest.plugin_config("{\"preScriptLocation\": ", 0o600);
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 305), "{outcome:?}");
    assert_eq!(guest.events(), events(&["freeze", "snapshot", "thaw"]));
}

#[tokio::test]
async fn a_plugin_config_without_a_script_location_skips_the_scripts() {
    let Some(guest) = Guest::new() else { return };
    guest.plugin_config(r#"{"preScriptLocation": "/bin/true"}"#, 0o600);
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 305), "{outcome:?}");
}

#[tokio::test]
async fn a_plugin_config_open_to_others_is_refused_but_the_snapshot_is_taken() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({"continueBackupOnFailure": false}));
    fs::set_permissions(
        guest.path("VMSnapshotScriptPluginConfig.json"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 317), "{outcome:?}");
    assert!(outcome.snapshots.is_some());
    assert_eq!(guest.events(), events(&["freeze", "snapshot", "thaw"]));
}

#[tokio::test]
async fn a_host_config_writable_by_others_skips_the_scripts() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    guest.host_conf("[pre_post]\nnumberOfPlugins: 0\n", 0o666);
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 314), "{outcome:?}");
    assert_eq!(guest.events(), events(&["freeze", "snapshot", "thaw"]));
}

#[tokio::test]
async fn a_host_config_that_does_not_parse_skips_the_scripts() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    guest.host_conf("[pre_post]\nnumberOfPlugins: many\n", 0o644);
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 304), "{outcome:?}");
}

#[tokio::test]
async fn the_host_config_names_the_plugin_config_and_caps_the_timeout() {
    let Some(guest) = Guest::new() else { return };
    let pre = guest.script("pre.sh", "sleep 3\n", 0o700);
    let post = guest.script("post.sh", POST_OK, 0o700);
    let elsewhere = guest.path("elsewhere.json");
    let config =
        json!({"preScriptLocation": pre, "postScriptLocation": post, "timeoutInSeconds": 30});
    write_with_mode(&elsewhere, &config.to_string(), 0o600);
    guest.host_conf(
        &format!(
            "[pre_post]\ntimeoutInSeconds: 1\nnumberOfPlugins: 1\npluginName0: ScriptRunner\n\
             pluginPath0: /etc/azure\npluginConfigPath0: {}\n",
            elsewhere.display()
        ),
        0o644,
    );
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 308), "the host's 1 s cap: {outcome:?}");
    assert_eq!(
        guest.events(),
        events(&["freeze", "snapshot", "thaw", "post"])
    );
}

#[tokio::test]
async fn with_fs_freeze_disabled_the_freezer_is_not_called() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({"fsFreezeEnabled": false}));
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (0, 0), "{outcome:?}");
    assert_eq!(freezer.calls(), (0, 0));
    assert_eq!(outcome.frozen_for, None);
    assert_eq!(guest.events(), events(&["pre", "snapshot", "post"]));
}

#[tokio::test]
async fn with_fs_freeze_disabled_a_failed_pre_script_stops_the_backup() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_FAILS, POST_OK, json!({"fsFreezeEnabled": false}));
    let freezer = RecordingFreezer::new(&guest);
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (300, 300), "{outcome:?}");
    assert_eq!(guest.events(), events(&["pre", "post"]));
}

fn writer(name: &str) -> WriterSpec {
    WriterSpec {
        name: name.into(),
        prepare: Duration::from_millis(20),
        freeze: Duration::from_millis(20),
        thaw: Duration::from_millis(20),
        fail_in: None,
        bad_state: false,
    }
}

fn with_writers(guest: &Guest, writers: Vec<WriterSpec>) -> QuiesceSettings {
    QuiesceSettings {
        writers,
        ..guest.settings()
    }
}

#[tokio::test]
async fn healthy_writers_alone_make_it_app_consistent() {
    let Some(guest) = Guest::new() else { return };
    let freezer = RecordingFreezer::new(&guest);
    let settings = with_writers(&guest, vec![writer("SqlServerWriter"), writer("Registry")]);
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await;
    assert_eq!(codes(&outcome), (0, 0), "{outcome:?}");
    assert_eq!(freezer.calls(), (1, 1));
}

/// Quiesce settings of a Windows guest with `writers`, and scripts that would run on Linux.
fn windows_with_writers(guest: &Guest, writers: Vec<WriterSpec>) -> QuiesceSettings {
    guest.scripts(PRE_OK, POST_OK, json!({}));
    QuiesceSettings {
        os: GuestOs::Windows,
        ..with_writers(guest, writers)
    }
}

#[tokio::test]
async fn a_windows_guest_runs_no_scripts_and_no_freeze_and_its_writers_make_it_app_consistent() {
    let Some(guest) = Guest::new() else { return };
    let freezer = RecordingFreezer::new(&guest);
    let settings = windows_with_writers(&guest, vec![writer("SqlServerWriter")]);
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await;
    assert_eq!(codes(&outcome), (0, 0), "{outcome:?}");
    assert_eq!(freezer.calls(), (0, 0), "VSS alone quiesces Windows");
    assert_eq!(guest.events(), events(&["snapshot"]), "no pre/post script");
    assert_eq!(outcome.frozen_for, None);
}

#[tokio::test]
async fn a_windows_guest_without_writers_is_file_system_consistent() {
    let Some(guest) = Guest::new() else { return };
    let freezer = RecordingFreezer::new(&guest);
    let settings = windows_with_writers(&guest, Vec::new());
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await;
    assert_eq!(codes(&outcome), (1, 1), "{outcome:?}");
    assert_eq!(freezer.calls(), (0, 0));
    assert_eq!(guest.events(), events(&["snapshot"]));
}

#[tokio::test]
async fn a_failing_writer_leaves_a_windows_guest_file_system_consistent() {
    let Some(guest) = Guest::new() else { return };
    let mut failing = writer("SqlServerWriter");
    failing.fail_in = Some(WriterPhase::Freeze);
    let freezer = RecordingFreezer::new(&guest);
    let settings = windows_with_writers(&guest, vec![writer("Registry"), failing]);
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await;
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_ne!(outcome.health_status_code, 1, "{outcome:?}");
    assert!(
        outcome.message.contains("SqlServerWriter"),
        "{}",
        outcome.message
    );
    assert_eq!(freezer.calls(), (0, 0));
}

#[tokio::test]
async fn a_writer_in_bad_state_fails_the_run_before_anything_happens() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    let mut bad = writer("ExchangeWriter");
    bad.bad_state = true;
    let freezer = RecordingFreezer::new(&guest);
    let settings = with_writers(&guest, vec![writer("Registry"), bad]);
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await;
    assert_eq!(codes(&outcome), (600, 600), "{outcome:?}");
    assert!(
        outcome.message.contains("ExchangeWriter"),
        "{}",
        outcome.message
    );
    assert_eq!(outcome.snapshots, None);
    assert!(guest.events().is_empty(), "no script, freeze or snapshot");
}

#[tokio::test]
async fn a_writer_failing_in_any_phase_downgrades_to_file_system_consistent() {
    let Some(guest) = Guest::new() else { return };
    for (phase, expected) in [
        (WriterPhase::Prepare, 601),
        (WriterPhase::Freeze, 602),
        (WriterPhase::Thaw, 604),
    ] {
        let mut failing = writer("SqlServerWriter");
        failing.fail_in = Some(phase);
        let freezer = RecordingFreezer::new(&guest);
        let settings = with_writers(&guest, vec![writer("Registry"), failing]);
        let (outcome, _) = run_with(
            &guest,
            settings,
            &freezer,
            snapshot_succeeds(),
            Duration::ZERO,
        )
        .await;
        assert_eq!(codes(&outcome), (1, expected), "{phase:?}: {outcome:?}");
        assert!(
            outcome.message.contains("SqlServerWriter"),
            "{}",
            outcome.message
        );
        assert!(outcome.snapshots.is_some(), "{phase:?}");
        assert_eq!(freezer.calls(), (1, 1), "{phase:?}");
    }
}

#[tokio::test]
async fn a_snapshot_longer_than_the_freeze_window_times_the_writers_out() {
    let Some(guest) = Guest::new() else { return };
    let freezer = RecordingFreezer::new(&guest);
    let settings = QuiesceSettings {
        vss_freeze_window: Duration::from_millis(200),
        ..with_writers(&guest, vec![writer("SqlServerWriter")])
    };
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::from_millis(400),
    )
    .await;
    assert_eq!(codes(&outcome), (1, 603), "{outcome:?}");
    assert!(
        outcome.message.contains("SqlServerWriter timed out"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_failed_freeze_without_crash_consistency_takes_no_snapshot() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    let freezer = RecordingFreezer {
        freeze_failure: Some(FreezeFailure::TimedOut),
        ..RecordingFreezer::new(&guest)
    };
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (122, 122), "{outcome:?}");
    assert_eq!(outcome.snapshots, None);
    assert!(!outcome.crash_consistent);
    assert_eq!(freezer.calls(), (1, 0), "nothing to thaw");
    assert_eq!(guest.events(), events(&["pre", "freeze", "post"]));
}

#[tokio::test]
async fn a_freeze_that_leaves_a_disk_out_is_crash_consistent_even_with_scripts() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    let left_out = "nothing of the disk image /images/data.img is frozen: it is not mounted";
    let freezer = RecordingFreezer {
        left_out: vec![left_out.to_owned()],
        ..RecordingFreezer::new(&guest)
    };
    let (outcome, log) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (1, 121), "{outcome:?}");
    assert!(outcome.crash_consistent);
    assert_eq!(
        outcome.message,
        format!("Crash-consistent snapshot: {left_out}")
    );
    assert_eq!(outcome.snapshots, Some(vec![disk_snapshot()]));
    assert_eq!(freezer.calls(), (1, 1), "what was frozen is thawed");
    assert!(
        log.text().contains(&format!("  Warning  {left_out} (121)")),
        "{}",
        log.text()
    );
}

#[tokio::test]
async fn a_failed_freeze_with_crash_consistency_allowed_still_snapshots() {
    let Some(guest) = Guest::new() else { return };
    let freezer = RecordingFreezer {
        freeze_failure: Some(FreezeFailure::Failed("helper died".into())),
        ..RecordingFreezer::new(&guest)
    };
    let settings = QuiesceSettings {
        crash_consistent_allowed: true,
        ..guest.settings()
    };
    let (outcome, _) = run_with(
        &guest,
        settings,
        &freezer,
        snapshot_succeeds(),
        Duration::ZERO,
    )
    .await;
    assert_eq!(codes(&outcome), (1, 121), "{outcome:?}");
    assert!(outcome.crash_consistent);
    assert_eq!(outcome.snapshots, Some(vec![disk_snapshot()]));
    assert_eq!(outcome.frozen_for, None);
    assert_eq!(freezer.calls(), (1, 0));
    assert_eq!(guest.events(), events(&["freeze", "snapshot"]));
}

#[tokio::test]
async fn a_broken_thaw_reports_code_2() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    let freezer = RecordingFreezer {
        thaw_failure: Some(ThawFailure("the helper auto-thawed".into())),
        ..RecordingFreezer::new(&guest)
    };
    let (outcome, _) = run(&guest, &freezer).await;
    assert_eq!(codes(&outcome), (2, 2), "{outcome:?}");
    assert!(
        outcome.message.contains("auto-thawed"),
        "{}",
        outcome.message
    );
    assert_eq!(freezer.calls(), (1, 1));
    assert_eq!(
        guest.events(),
        events(&["pre", "freeze", "snapshot", "thaw", "post"])
    );
}

#[tokio::test]
async fn a_failed_snapshot_reports_the_snapshot_steps_codes_and_post_scripts_run() {
    let Some(guest) = Guest::new() else { return };
    guest.scripts(PRE_OK, POST_OK, json!({}));
    let freezer = RecordingFreezer::new(&guest);
    let failed = SnapshotResult {
        code: 76,
        health_status_code: 761,
        message: "one disk failed".into(),
        snapshots: vec![],
    };
    let (outcome, _) = run_with(&guest, guest.settings(), &freezer, failed, Duration::ZERO).await;
    assert_eq!(codes(&outcome), (76, 761), "{outcome:?}");
    assert_eq!(outcome.message, "one disk failed");
    assert_eq!(freezer.calls(), (1, 1));
    assert_eq!(
        guest.events(),
        events(&["pre", "freeze", "snapshot", "thaw", "post"])
    );
}
