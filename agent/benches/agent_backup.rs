//! The agent against the service, with the release binaries and real processes (the same
//! helpers as the end-to-end tests): `vaultsim serve` and `vaultsim-agent run` / `fleet`.
//!
//! - `disks16`: one VM with 16 simulated disks and a real freeze (a loop-mounted ext4
//!   image given as `--freeze-mount`): the frozen time of each of several daily backups.
//! - `localdisk`: a 4 GiB loop-mounted ext4 image (`--disk-image`) holding 1 GiB of files;
//!   after the first backup 100 MiB are rewritten in place, scattered: the frozen time and
//!   the local-disk syncs of the next backup, once with the changes written back to the
//!   image before the backup and once with them still dirty in the page cache.
//! - `e2e`: one VM (OS and one data disk), `--start-delay-ms 0`: wall time from the clock
//!   advance that dispatches the backup until the job's `Take Snapshot` task is completed
//!   (the status collected), and until the job is completed (the recovery point made);
//!   then a few runs with the real extension's 500-5000 ms start delay.
//! - `fleet`: `vaultsim-agent fleet --count N`: registration, protecting every VM, then one
//!   scheduled window: wall time until every Backup job has ended, failures counted, one
//!   recovery point per VM checked, and the CPU each process used in the window.
//!
//! ```sh
//! # the vaultsim binary with the bench's features (tokio test-util), so nothing rebuilds:
//! cargo build --release -p vaultsim-agent -p vaultsim --bin vaultsim --bench agent_backup
//! sudo cargo bench -p vaultsim-agent --bench agent_backup            # all four
//! BENCH_AGENT=e2e BENCH_RUNS=9 cargo bench -p vaultsim-agent --bench agent_backup
//! BENCH_AGENT=fleet BENCH_FLEET_COUNT=200,500,1000 cargo bench -p vaultsim-agent --bench agent_backup
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres ...  # a fresh database per service
//! ```
//!
//! `disks16` and `localdisk` need root (loop devices, FIFREEZE).

// The tests' helpers, of which the benchmark uses a part.
#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::root::LoopExt4;
use common::{registered_vm_id, start_agent, start_agent_with_delay, Process, Service, GROUP};
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let which =
        std::env::var("BENCH_AGENT").unwrap_or_else(|_| "disks16,localdisk,e2e,fleet".into());
    let runs: usize = env_number("BENCH_RUNS", 5);
    let database = Database::from_env();
    println!(
        "database: {}",
        database.server.as_deref().unwrap_or("SQLite (default)")
    );
    for bench in which.split(',').map(str::trim) {
        match bench {
            "disks16" => disks16(&database, runs).await,
            "localdisk" => localdisk(&database).await,
            "e2e" => e2e(&database, runs).await,
            "fleet" => {
                let counts =
                    std::env::var("BENCH_FLEET_COUNT").unwrap_or_else(|_| "1000".to_owned());
                for count in counts.split(',') {
                    fleet(&database, count.trim().parse().unwrap()).await;
                }
            }
            other => panic!("unknown bench {other}: disks16, localdisk, e2e, fleet"),
        }
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v}")))
        .unwrap_or(default)
}

/// SQLite in each service's data directory, or a fresh PostgreSQL database per service.
struct Database {
    server: Option<String>,
    made: AtomicUsize,
}

impl Database {
    fn from_env() -> Database {
        Database {
            server: std::env::var("BENCH_DATABASE_URL").ok(),
            made: AtomicUsize::new(0),
        }
    }

    async fn service(&self) -> Service {
        let url = self.server.as_ref().map(|server| {
            let name = format!(
                "agentbench_{}_{}",
                std::process::id(),
                self.made.fetch_add(1, Ordering::Relaxed)
            );
            common::root::run(
                "psql",
                &[server, "-q", "-c", &format!("create database {name}")],
            );
            let (base, _) = server.rsplit_once('/').expect("a database URL");
            format!("{base}/{name}")
        });
        Service::start_on(url.as_deref()).await
    }
}

/// Min, median and max.
fn spread(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => "-".to_owned(),
        n => format!(
            "min {:.1} / median {:.1} / max {:.1} (n={n})",
            sorted[0],
            sorted[n / 2],
            sorted[n - 1]
        ),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The day `day`'s 02:00 run of the daily policy (the clock is pinned at 2026-03-01 00:00).
fn run_time(day: usize) -> String {
    format!("2026-03-{day:02}T02:00:00Z")
}

async fn advance_to(service: &Service, to: &str, settle_seconds: f64) -> Value {
    let (status, answer) = service
        .arm(
            reqwest::Method::POST,
            "/_sim/clock/advance",
            Some(json!({"to": to, "settleSeconds": settle_seconds})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn backup_jobs_path(service: &Service) -> String {
    format!(
        "{}/backupJobs?$filter=operation eq 'Backup'",
        service.vault_path()
    )
}

fn take_snapshot_status(job: &Value) -> Option<&str> {
    job["properties"]["extendedInfo"]["tasksList"]
        .as_array()?
        .iter()
        .find(|task| task["taskId"] == "Take Snapshot")?["status"]
        .as_str()
}

/// Wall times of one scheduled backup of one VM, from the advance that dispatches it.
struct OneBackup {
    /// The advance call (dispatch; `settleSeconds` 0).
    dispatched: Duration,
    /// Until the job's Take Snapshot task is completed: the agent's status collected.
    collected: Duration,
    /// Until the job is completed: the recovery point made.
    completed: Duration,
}

/// Runs day `day`'s backup of the only protected VM (the `day`-th Backup job) and polls
/// the job until it ends.
async fn backup_once(service: &Service, day: usize, agent: &Process) -> OneBackup {
    let started = Instant::now();
    let advanced = advance_to(service, &run_time(day), 0.0).await;
    let dispatched = started.elapsed();
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let mut collected = None;
    loop {
        let jobs = service.jobs("Backup").await;
        assert_eq!(jobs.len(), day, "one Backup job a day");
        let job = &jobs[0];
        if collected.is_none() && take_snapshot_status(job) == Some("Completed") {
            collected = Some(started.elapsed());
        }
        match job["properties"]["status"].as_str() {
            Some("InProgress") => {}
            Some("Completed") => {
                return OneBackup {
                    dispatched,
                    collected: collected.unwrap_or_else(|| started.elapsed()),
                    completed: started.elapsed(),
                }
            }
            _ => panic!("the backup failed: {job}\n{}", agent.log()),
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the backup did not end: {job}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A numeric `field=` of the last log line holding `marker`.
fn last_logged(log: &str, marker: &str, field: &str) -> Option<f64> {
    log.lines()
        .rev()
        .find(|line| line.contains(marker))?
        .split(&format!("{field}="))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .parse()
        .ok()
}

/// Waits until the agent has logged the end of `count` snapshot tasks.
fn wait_for_task_ends(agent: &Process, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = agent.log();
        if log.matches("snapshot task ended").count() >= count {
            return log;
        }
        assert!(Instant::now() < deadline, "no end of task {count}:\n{log}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last extension log line holding `text`.
fn extension_log_line(state: &Path, text: &str) -> String {
    let log = std::fs::read_to_string(
        state.join("waagent/log/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"),
    )
    .unwrap_or_default();
    log.lines()
        .rev()
        .find(|line| line.contains(text))
        .unwrap_or("(not logged)")
        .to_owned()
}

async fn disks16(database: &Database, runs: usize) {
    println!("\n## disks16: one VM, 16 simulated disks, a loop-mounted ext4 frozen");
    let service = database.service().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let frozen_fs = LoopExt4::new(64);
    let state = tempfile::tempdir().unwrap();
    // start_agent gives one 1 GiB data disk; 14 more, and the OS disk, make 16.
    let mut extra: Vec<&str> = std::iter::repeat_n(["--data-disk-gib", "1"], 14)
        .flatten()
        .collect();
    let mount = frozen_fs.mount.to_str().unwrap();
    extra.extend(["--freeze-mount", mount, "--safefreeze-start-delay-ms", "0"]);
    let agent = start_agent(&service, "vm16", state.path(), &extra);
    registered_vm_id(&agent);
    service.protect("vm16").await;
    let (mut frozen, mut freezing, mut collected, mut completed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for day in 1..=runs {
        let backup = backup_once(&service, day, &agent).await;
        let log = wait_for_task_ends(&agent, day);
        frozen.push(last_logged(&log, "snapshot task ended", "frozen_ms").expect("frozen_ms"));
        freezing.push(last_logged(&log, "filesystems frozen", "after_ms").expect("after_ms"));
        collected.push(ms(backup.collected));
        completed.push(ms(backup.completed));
    }
    let snapshots = extension_log_line(state.path(), "snapshotting");
    println!("last run: {snapshots}");
    println!(
        "frozen_ms (freeze -> thaw, 16 snapshots inside): {}",
        spread(&frozen)
    );
    println!(
        "freeze request -> frozen (helper start + FIFREEZE), ms: {}",
        spread(&freezing)
    );
    println!("dispatch -> status collected, ms: {}", spread(&collected));
    println!("dispatch -> job completed, ms: {}", spread(&completed));
    println!("target: frozen < 50 ms");
}

/// Overwrites `total` bytes in place as 64 KiB blocks at random block-aligned offsets of
/// random files (no truncation, so the files keep their extents).
fn rewrite_scattered(files: &[PathBuf], file_size: u64, total: u64, rng: &mut impl Rng) {
    let block = 64 * 1024;
    let mut bytes = vec![0u8; block as usize];
    for _ in 0..total / block {
        rng.fill_bytes(&mut bytes);
        let file = &files[rng.gen_range(0..files.len())];
        let offset = rng.gen_range(0..file_size / block) * block;
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .write_all_at(&bytes, offset)
            .unwrap();
    }
}

fn sync_all() {
    common::root::run("sync", &[]);
}

async fn localdisk(database: &Database) {
    println!("\n## localdisk: 4 GiB loop-mounted ext4 image, 1 GiB of files, 100 MiB changed");
    let service = database.service().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let disk = LoopExt4::new(4096);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let file_size = 4 * MIB;
    let mut chunk = vec![0u8; file_size as usize];
    let dir = disk.mount.join("data");
    std::fs::create_dir(&dir).unwrap();
    let files: Vec<PathBuf> = (0..256).map(|i| dir.join(format!("f{i:03}"))).collect();
    for file in &files {
        rng.fill_bytes(&mut chunk);
        std::fs::File::create(file)
            .unwrap()
            .write_all(&chunk)
            .unwrap();
    }
    sync_all();
    let state = tempfile::tempdir().unwrap();
    let blob_endpoint = format!("http://{}/devstoreaccount1", service.blob);
    let agent = start_agent(
        &service,
        "vmlocal",
        state.path(),
        &[
            "--disk-image",
            disk.image.to_str().unwrap(),
            "--safefreeze-start-delay-ms",
            "0",
            "--blob-endpoint",
            &blob_endpoint,
        ],
    );
    registered_vm_id(&agent);
    service.protect("vmlocal").await;

    let cases: [(&str, Option<bool>); 3] = [
        ("first backup (1 GiB of files)", None),
        (
            "100 MiB changed, written back before the backup",
            Some(true),
        ),
        (
            "100 MiB changed, still dirty in the page cache",
            Some(false),
        ),
    ];
    for (day, (what, written_back)) in cases.into_iter().enumerate() {
        let day = day + 1;
        if let Some(written_back) = written_back {
            rewrite_scattered(&files, file_size, 100 * MIB, &mut rng);
            if written_back {
                sync_all();
            }
        }
        let backup = backup_once(&service, day, &agent).await;
        let log = wait_for_task_ends(&agent, day);
        println!("### {what}");
        println!(
            "frozen_ms {:?}, freeze request -> frozen {:?} ms, dispatch -> collected {:.0} ms, -> completed {:.0} ms",
            last_logged(&log, "snapshot task ended", "frozen_ms"),
            last_logged(&log, "filesystems frozen", "after_ms"),
            ms(backup.collected),
            ms(backup.completed),
        );
        println!(
            "  {}",
            extension_log_line(state.path(), "synced before the freeze")
        );
        println!(
            "  {}",
            extension_log_line(state.path(), "synced while frozen")
        );
    }
    println!("target: frozen < 1 s (100 MiB changed)");
}

async fn e2e(database: &Database, runs: usize) {
    println!("\n## e2e: one VM (OS + 1 data disk), dispatch -> status collected");
    let service = database.service().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    let agent = start_agent(&service, "vm1", state.path(), &[]);
    registered_vm_id(&agent);
    service.protect("vm1").await;
    let (mut dispatched, mut collected, mut completed) = (Vec::new(), Vec::new(), Vec::new());
    for day in 1..=runs {
        let backup = backup_once(&service, day, &agent).await;
        dispatched.push(ms(backup.dispatched));
        collected.push(ms(backup.collected));
        completed.push(ms(backup.completed));
    }
    println!("--start-delay-ms 0:");
    println!("  advance call (dispatch), ms: {}", spread(&dispatched));
    println!("  dispatch -> status collected, ms: {}", spread(&collected));
    println!("  dispatch -> job completed, ms: {}", spread(&completed));
    println!("target: dispatch -> status collected < 1 s");

    let delayed_runs = 3;
    let service = database.service().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    let agent = start_agent_with_delay(&service, "vm1", state.path(), "500-5000", &[]);
    registered_vm_id(&agent);
    service.protect("vm1").await;
    let mut delayed = Vec::new();
    for day in 1..=delayed_runs {
        delayed.push(ms(backup_once(&service, day, &agent).await.collected));
    }
    println!(
        "  with the real extension's random start delay (500-5000 ms), dispatch -> collected, ms: {}",
        spread(&delayed)
    );
}

/// User and system CPU seconds a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().map(|v| v.parse::<f64>().unwrap_or(0.0)).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Keeps each VM's keys (their making is the slow part of registering) and removes the
/// rest of its state, which belongs to the previous run's service.
fn reset_fleet_state(state: &Path) {
    let Ok(entries) = std::fs::read_dir(state) else {
        return;
    };
    for vm in entries.flatten() {
        for entry in std::fs::read_dir(vm.path()).into_iter().flatten().flatten() {
            if entry.file_name() == "keys" {
                continue;
            }
            let path = entry.path();
            let _ = match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            };
        }
    }
}

async fn fleet(database: &Database, count: usize) {
    println!("\n## fleet: {count} simulated VMs in one scheduled window");
    let service = Arc::new(database.service().await);
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = std::env::temp_dir().join("vaultsim-agent-bench-fleet");
    std::fs::create_dir_all(&state).unwrap();
    reset_fleet_state(&state);
    let cached_keys = (0..count)
        .filter(|i| state.join(format!("fleetvm-{i}/keys")).exists())
        .count();
    let mut command = common::agent_command(&service, "fleet", &state, "0");
    command
        .args(["--count", &count.to_string()])
        .args(["--name-prefix", "fleetvm", "--resource-group", GROUP])
        .env("RUST_LOG", "info");
    let started = Instant::now();
    let fleet = Process::spawn_command(command);
    fleet.wait_for_log("fleet registered", Duration::from_secs(1800));
    let registered = started.elapsed();
    println!(
        "registration of {count} VMs: {:.1} s ({cached_keys} with cached keys)",
        registered.as_secs_f64()
    );

    let started = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(32));
    let mut protecting = tokio::task::JoinSet::new();
    for i in 0..count {
        let (service, permits) = (Arc::clone(&service), Arc::clone(&permits));
        protecting.spawn(async move {
            let _permit = permits.acquire_owned().await;
            service.protect(&format!("fleetvm-{i}")).await;
        });
    }
    while let Some(joined) = protecting.join_next().await {
        joined.unwrap();
    }
    println!(
        "protecting {count} VMs (32 PUTs in flight): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (service_pid, fleet_pid) = (service.process.pid(), fleet.pid());
    let (service_cpu, fleet_cpu) = (cpu_seconds(service_pid), cpu_seconds(fleet_pid));
    // Progress from the service's counters: listing every job each 200 ms (as this bench
    // did up to the fleet-scale step) rendered each running job at every poll, and at
    // 5,000 jobs that was most of the service's CPU in the window.
    let collected_before = service.counter("vaultsim_tasks_collected_total").await;
    let ended_before = service.counter("vaultsim_jobs_ended_total").await;
    let started = Instant::now();
    let advanced = advance_to(&service, &run_time(1), 0.0).await;
    let dispatched = started.elapsed();
    assert_eq!(advanced["backupsStarted"], count, "{advanced}");
    let mut collected_at = None;
    loop {
        let collected = service.counter("vaultsim_tasks_collected_total").await - collected_before;
        if collected_at.is_none() && collected >= count as f64 {
            collected_at = Some(started.elapsed());
        }
        let ended = service.counter("vaultsim_jobs_ended_total").await - ended_before;
        if ended >= count as f64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{ended} of {count} jobs ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_ended = started.elapsed();
    let window_service_cpu = cpu_seconds(service_pid) - service_cpu;
    let window_fleet_cpu = cpu_seconds(fleet_pid) - fleet_cpu;
    let jobs = service.list_all(&backup_jobs_path(&service)).await;
    assert_eq!(jobs.len(), count, "one Backup job per VM");
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for job in &jobs {
        let status = job["properties"]["status"].as_str().unwrap_or("?");
        let code = job["properties"]["errorDetails"][0]["errorCode"]
            .as_str()
            .map(|code| format!(" ({code})"))
            .unwrap_or_default();
        *by_status.entry(format!("{status}{code}")).or_default() += 1;
    }

    let mut counting = tokio::task::JoinSet::new();
    for i in 0..count {
        let (service, permits) = (Arc::clone(&service), Arc::clone(&permits));
        counting.spawn(async move {
            let _permit = permits.acquire_owned().await;
            service.recovery_points(&format!("fleetvm-{i}")).await.len()
        });
    }
    let mut points = 0;
    let mut vms_without_point = 0;
    while let Some(joined) = counting.join_next().await {
        let n = joined.unwrap();
        points += n;
        vms_without_point += usize::from(n == 0);
    }
    println!(
        "window: advance (dispatch of {count}) {:.2} s; every status collected {:.1} s; every job ended {:.1} s",
        dispatched.as_secs_f64(),
        collected_at.unwrap_or(all_ended).as_secs_f64(),
        all_ended.as_secs_f64()
    );
    println!("jobs: {by_status:?}; recovery points {points}; VMs without one {vms_without_point}");
    println!(
        "CPU in the window: service {window_service_cpu:.1} s, fleet {window_fleet_cpu:.1} s \
         (of {:.1} core-seconds); peak RSS service {} MiB, fleet {} MiB",
        all_ended.as_secs_f64() * 2.0,
        peak_rss_mib(service_pid),
        peak_rss_mib(fleet_pid)
    );
    println!("target: {count} VMs (1,000 asked) in < 60 s, nothing lost");
}
