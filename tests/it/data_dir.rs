//! A data directory belongs to one process: a second service on it is refused at once,
//! with the directory and the holder's pid in the message, before it writes anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use vaultsim::config::ServeConfig;
use vaultsim::startup::Application;

use crate::helpers::{serve_command, ServiceProcess};

/// How long a refused start may take: it fails before opening anything heavy.
const REFUSED_WITHIN: Duration = Duration::from_secs(10);

/// The running first service's own database, which it may write (an engine tick, a WAL
/// checkpoint) at any moment: only its presence is compared. A second service could not
/// change it without first writing what the comparison does see (the TLS leaf it is asked
/// to re-issue, the credentials, the engine id).
const LIVE_DATABASE: [&str; 3] = ["vaultsim.db", "vaultsim.db-wal", "vaultsim.db-shm"];

/// Every file and directory under `root`, with its size and modification time (none for
/// the [`LIVE_DATABASE`] files).
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<(u64, SystemTime)>> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            if metadata.is_dir() {
                pending.push(entry.path());
            }
            let live = LIVE_DATABASE
                .iter()
                .any(|name| entry.file_name() == std::ffi::OsStr::new(name));
            let stamp = (!live).then(|| (metadata.len(), metadata.modified().unwrap()));
            entries.insert(entry.path(), stamp);
        }
    }
    entries
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_dir_is_refused_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let first = ServiceProcess::start(data.path(), "info");
    let before = tree(data.path());

    let started = Instant::now();
    // Asked for another name on the generated certificate, the second service would
    // re-issue the TLS leaf in the data directory if it got that far.
    let second = tokio::process::Command::from(serve_command(data.path(), "info"))
        .env("VAULTSIM_TLS_SAN", "second.example")
        .kill_on_drop(true)
        .spawn()
        .expect("the vaultsim binary starts");
    let output = tokio::time::timeout(REFUSED_WITHIN, second.wait_with_output())
        .await
        .expect("the second service exits at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused:\n{stderr}");
    assert!(
        stderr.contains(&data.path().display().to_string())
            && stderr.contains(&format!("pid {}", first.pid())),
        "the message names the directory and the holder:\n{stderr}"
    );
    assert!(started.elapsed() < REFUSED_WITHIN);
    assert_eq!(
        tree(data.path()),
        before,
        "the refused service wrote nothing"
    );

    let still = first.client().create_container("still-serving").await;
    assert_eq!(still.status(), 201, "the first service still serves");
}

/// The lock belongs to `Application`, so services started in-process hold it too, from a
/// data directory that did not exist yet; dropping the application releases it.
#[tokio::test]
async fn an_application_holds_its_data_dir_until_dropped() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("not-yet-made");
    let config = ServeConfig::ephemeral(&dir, None);
    let first = Application::build(&config).await.unwrap();
    let refused = Application::build(&config)
        .await
        .err()
        .expect("a second application on the directory is refused");
    let message = format!("{refused:#}");
    assert!(
        message.contains(&dir.display().to_string())
            && message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    drop(first);
    Application::build(&config)
        .await
        .expect("the directory is free once the first application is gone");
}
