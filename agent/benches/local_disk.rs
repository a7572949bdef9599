//! The frozen time of a local-disk backup: a 4 GiB sparse image with 1 GiB of data spread
//! over it is mirrored to a page blob of the in-process service (port 0); then 100 MiB
//! change (the pre-freeze sync moves them) and 1 MiB more (the sync that runs while the
//! filesystem is frozen). `cargo bench -p vaultsim-agent --bench local_disk`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use rand::{Rng, RngCore, SeedableRng};
use vaultsim::config::{ServeConfig, DEV_ACCOUNT_KEY};
use vaultsim::startup::Application;
use vaultsim_agent::localdisk::{LocalDisk, PageBlobTarget, SyncStats};
use vaultsim_protocol::shared_key::{authorization_header, SignedRequest};

const ACCOUNT: &str = "devstoreaccount1";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const IMAGE_SIZE: u64 = 4 * GIB;
const BLOCK: u64 = 64 * 1024;

#[tokio::main]
async fn main() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("service");
    let blob_url = start_service(&data_dir).await;

    let image = work.path().join("disk.img");
    let file = File::create(&image).unwrap();
    file.set_len(IMAGE_SIZE).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // 1 GiB of data: 1 MiB at the start of every 4 MiB.
    let mut chunk = vec![0u8; MIB as usize];
    for window in 0..IMAGE_SIZE / (4 * MIB) {
        rng.fill_bytes(&mut chunk);
        file.write_all_at(&chunk, window * 4 * MIB).unwrap();
    }

    let target = PageBlobTarget::new(&blob_url, ACCOUNT, DEV_ACCOUNT_KEY).unwrap();
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut disk = LocalDisk::open(&image, target, &state).unwrap();
    report(
        "first full sync (1 GiB of data)",
        disk.sync().await.unwrap(),
    );
    report("sync with nothing changed", disk.sync().await.unwrap());

    change_scattered_blocks(&file, &mut rng, 100 * MIB);
    report(
        "pre-freeze sync (100 MiB changed)",
        disk.sync().await.unwrap(),
    );

    change_scattered_blocks(&file, &mut rng, MIB);
    let started = Instant::now();
    let frozen = disk.sync().await.unwrap();
    report("frozen sync (1 MiB changed)", frozen);
    println!(
        "frozen phase: {:.3} s (target < 1 s)",
        started.elapsed().as_secs_f64()
    );
}

/// Overwrites `total` bytes as whole 64 KiB blocks at random places (holes included).
fn change_scattered_blocks(file: &File, rng: &mut impl Rng, total: u64) {
    let mut block = vec![0u8; BLOCK as usize];
    for _ in 0..total / BLOCK {
        rng.fill_bytes(&mut block);
        let index = rng.gen_range(0..IMAGE_SIZE / BLOCK);
        file.write_all_at(&block, index * BLOCK).unwrap();
    }
}

fn report(what: &str, stats: SyncStats) {
    println!(
        "{what:<36} {:>8.3} s  scanned {:>5} MiB  uploaded {:>7.1} MiB  cleared {:>5.1} MiB  {:>5} requests{}",
        stats.elapsed.as_secs_f64(),
        stats.scanned_bytes / MIB,
        stats.uploaded_bytes as f64 / MIB as f64,
        stats.cleared_bytes as f64 / MIB as f64,
        stats.requests,
        if stats.full_resync { "  (full resync)" } else { "" },
    );
}

/// Starts the service on port 0 with container `disks` and a 4 GiB page blob; returns the
/// blob's URL.
async fn start_service(data_dir: &Path) -> String {
    let config = ServeConfig::ephemeral(data_dir, None);
    let app = Application::build(&config).await.unwrap();
    let addr = app.blob_addr();
    tokio::spawn(async move {
        app.run_until_stopped(std::future::pending()).await.unwrap();
    });
    let base = format!("http://{addr}/{ACCOUNT}");
    let size = IMAGE_SIZE.to_string();
    shared_key_put(&base, "/disks", "restype=container", &[]).await;
    shared_key_put(
        &base,
        "/disks/vm1.vhd",
        "",
        &[
            ("x-ms-blob-type", "PageBlob"),
            ("x-ms-blob-content-length", &size),
        ],
    )
    .await;
    format!("{base}/disks/vm1.vhd")
}

/// A body-less Shared Key PUT that must answer 201.
async fn shared_key_put(base: &str, path: &str, query: &str, extra: &[(&str, &str)]) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(DEV_ACCOUNT_KEY)
        .unwrap();
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let mut headers = vec![
        ("x-ms-date", date.as_str()),
        ("x-ms-version", "2025-11-05"),
        ("content-length", "0"),
    ];
    headers.extend_from_slice(extra);
    let full_path = format!("/{ACCOUNT}{path}");
    let authorization = authorization_header(
        ACCOUNT,
        &key,
        &SignedRequest {
            method: "PUT",
            headers: &headers,
            path: &full_path,
            query,
        },
    );
    let url = if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    };
    let mut request = reqwest::Client::new()
        .put(url)
        .header("authorization", authorization);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let status = request.send().await.unwrap().status();
    assert_eq!(status, 201, "PUT {path}?{query}");
}
