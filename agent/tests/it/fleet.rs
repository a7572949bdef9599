//! `vaultsim-agent fleet`: many simulated VMs in one process, each registered with its own
//! key pair, backed up in one scheduled window, with their workload's writes in the points.

use std::time::Duration;

use crate::common::{agent_command, Process, Service, GROUP};

const VMS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_backed_up_in_one_window_with_nothing_lost() {
    let service = Service::start().await;
    let blob_endpoint = format!("http://{}/devstoreaccount1", service.blob);
    let (fleet, state) = protected_fleet(
        &service,
        VMS,
        "fleetvm",
        "0",
        &[
            "--write-bytes",
            "4096",
            "--write-interval-ms",
            "100",
            "--blob-endpoint",
            &blob_endpoint,
        ],
    )
    .await;
    // Let the workload write before the window opens.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let jobs = window_backed_up(&service, &fleet, VMS).await;
    for job in &jobs {
        let moved: u64 = job["properties"]["extendedInfo"]["propertyBag"]["Bytes Transferred"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            moved >= 4096,
            "the workload's writes are in the point: {job}"
        );
    }
    for i in 0..VMS {
        let points = service.recovery_points(&format!("fleetvm-{i}")).await;
        assert_eq!(points.len(), 1, "fleetvm-{i}");
    }
    // Each VM has its own certificate.
    let thumbprints: std::collections::HashSet<_> = (0..VMS)
        .map(|i| {
            let dir = state.path().join(format!("fleetvm-{i}/waagent"));
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .find(|name| name.ends_with(".crt"))
                .unwrap()
        })
        .collect();
    assert_eq!(thumbprints.len(), VMS);
}

/// The VMs share one process's descriptors, so the fleet lets only `--runs-at-once` runs
/// go on at once: with one slot, three runs that each sleep a 1 s start delay follow one
/// another (at once they would all end about 1 s after the window opens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_runs_no_more_extensions_at_once_than_it_is_told() {
    const WAITING_VMS: usize = 3;
    let service = Service::start().await;
    let (fleet, _state) = protected_fleet(
        &service,
        WAITING_VMS,
        "slotvm",
        "1000",
        &["--runs-at-once", "1"],
    )
    .await;

    let opened = std::time::Instant::now();
    window_backed_up(&service, &fleet, WAITING_VMS).await;
    let ended = opened.elapsed();
    assert!(
        ended >= Duration::from_secs(WAITING_VMS as u64),
        "three 1 s runs in one slot ended after {ended:?}"
    );
}

/// A fleet of `count` VMs named `<prefix>-<i>` (each run sleeping `start_delay_ms`), under a
/// pinned clock, registered and protected by the daily policy; its state directory goes
/// when the answer does.
async fn protected_fleet(
    service: &Service,
    count: usize,
    prefix: &str,
    start_delay_ms: &str,
    more_args: &[&str],
) -> (Process, tempfile::TempDir) {
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    let mut command = agent_command(service, "fleet", state.path(), start_delay_ms);
    command
        .args(["--count", &count.to_string(), "--name-prefix", prefix])
        .args(["--resource-group", GROUP, "--ensure-resource-group"])
        .args(more_args)
        .env("RUST_LOG", "info");
    let fleet = Process::spawn_command(command);
    fleet.wait_for_log("fleet registered", Duration::from_secs(120));
    for i in 0..count {
        service.protect(&format!("{prefix}-{i}")).await;
    }
    (fleet, state)
}

/// Opens the daily window and answers the backup jobs once it settles, each of the
/// `count` Completed.
async fn window_backed_up(
    service: &Service,
    fleet: &Process,
    count: usize,
) -> Vec<serde_json::Value> {
    let advanced = service.advance("PT3H", 60.0).await;
    assert_eq!(advanced["backupsStarted"], count, "{advanced}");
    let jobs = service.jobs("Backup").await;
    assert_eq!(jobs.len(), count);
    for job in &jobs {
        assert_eq!(
            job["properties"]["status"],
            "Completed",
            "{job}\n{}",
            fleet.log()
        );
    }
    jobs
}
