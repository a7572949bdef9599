//! Local disks over the wire: an image file mirrored to a page blob of the real service
//! (started in-process on port 0), its bytes read back and compared.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::root::{can_run_root_tests, debugfs_cat, LoopExt4};
use base64::Engine as _;
use rand::{Rng, RngCore, SeedableRng};
use reqwest::{Method, Response};
use vaultsim::config::{ServeConfig, DEV_ACCOUNT_KEY};
use vaultsim::startup::Application;
use vaultsim_agent::localdisk::{
    loop_mount_of, own_mount_of, LocalDisk, LocalDiskError, NotMounted, PageBlobTarget,
};
use vaultsim_protocol::shared_key::{authorization_header, SignedRequest};

const ACCOUNT: &str = "devstoreaccount1";
const VERSION: &str = "2025-11-05";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const BLOCK: u64 = 64 * KIB;
const BLOB_PATH: &str = "/disks/vm1.vhd";

/// The vaultsim service on port 0, as `tests/it/helpers.rs` starts it, with a Shared Key
/// client for its blob endpoint.
struct Service {
    addr: SocketAddr,
    http: reqwest::Client,
    key: Vec<u8>,
    _data: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl Service {
    async fn spawn() -> Self {
        let data = tempfile::tempdir().unwrap();
        let config = ServeConfig::ephemeral(data.path(), None);
        let app = Application::build(&config).await.unwrap();
        let addr = app.blob_addr();
        let server = tokio::spawn(async move {
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
        Self {
            addr,
            http: reqwest::Client::new(),
            key: base64::engine::general_purpose::STANDARD
                .decode(DEV_ACCOUNT_KEY)
                .unwrap(),
            _data: data,
            _server: server,
        }
    }

    /// A service holding container `disks` with a page blob `vm1.vhd` of `size` bytes.
    async fn spawn_with_disk(size: u64) -> Self {
        let service = Self::spawn().await;
        let created = service
            .send(Method::PUT, "/disks", "restype=container", &[], vec![])
            .await;
        assert_eq!(created.status(), 201);
        service.create_page_blob(size).await;
        service
    }

    async fn create_page_blob(&self, size: u64) {
        let size = size.to_string();
        let created = self
            .send(
                Method::PUT,
                BLOB_PATH,
                "",
                &[
                    ("x-ms-blob-type", "PageBlob"),
                    ("x-ms-blob-content-length", &size),
                ],
                vec![],
            )
            .await;
        assert_eq!(created.status(), 201);
    }

    fn blob_url(&self) -> String {
        format!("http://{}/{ACCOUNT}{BLOB_PATH}", self.addr)
    }

    fn target(&self) -> PageBlobTarget {
        PageBlobTarget::new(&self.blob_url(), ACCOUNT, DEV_ACCOUNT_KEY).unwrap()
    }

    /// Sends a Shared Key request; `path` is below the account, `query` without `?`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let length = body.len().to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("x-ms-date", &date),
            ("x-ms-version", VERSION),
            ("content-length", &length),
        ];
        all.extend_from_slice(headers);
        let full_path = format!("/{ACCOUNT}{path}");
        let authorization = authorization_header(
            ACCOUNT,
            &self.key,
            &SignedRequest {
                method: method.as_str(),
                headers: &all,
                path: &full_path,
                query,
            },
        );
        let mut url = format!("http://{}{full_path}", self.addr);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", authorization)
            .body(body);
        for (name, value) in all {
            request = request.header(name, value);
        }
        request.send().await.expect("the service answers")
    }

    /// The first `length` bytes of the blob, or of one of its snapshots.
    async fn read_blob(&self, snapshot: Option<&str>, length: u64) -> Vec<u8> {
        let query = snapshot.map_or(String::new(), |s| {
            format!("snapshot={}", s.replace(':', "%3A"))
        });
        let range = format!("bytes=0-{}", length - 1);
        let response = self
            .send(
                Method::GET,
                BLOB_PATH,
                &query,
                &[("x-ms-range", &range)],
                vec![],
            )
            .await;
        assert_eq!(response.status(), 206);
        response.bytes().await.unwrap().to_vec()
    }

    /// Snapshot Blob; returns the snapshot's `x-ms-snapshot`.
    async fn snapshot(&self) -> String {
        let response = self
            .send(Method::PUT, BLOB_PATH, "comp=snapshot", &[], vec![])
            .await;
        assert_eq!(response.status(), 201);
        response.headers()["x-ms-snapshot"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    async fn delete_blob(&self) {
        let response = self
            .send(
                Method::DELETE,
                BLOB_PATH,
                "",
                &[("x-ms-delete-snapshots", "include")],
                vec![],
            )
            .await;
        assert_eq!(response.status(), 202);
    }

    async fn put_page(&self, offset: u64, data: Vec<u8>) {
        let range = format!("bytes={}-{}", offset, offset + data.len() as u64 - 1);
        let response = self
            .send(
                Method::PUT,
                BLOB_PATH,
                "comp=page",
                &[("x-ms-page-write", "update"), ("x-ms-range", &range)],
                data,
            )
            .await;
        assert_eq!(response.status(), 201);
    }
}

/// A sparse image of `size` bytes with random data at a few scattered, unaligned places.
fn sparse_image(dir: &Path, size: u64, seed: u64) -> PathBuf {
    let path = dir.join("disk.img");
    let file = File::create(&path).unwrap();
    file.set_len(size).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..12 {
        let length = rng.gen_range(1..300 * KIB);
        let offset = rng.gen_range(0..size - length);
        let mut data = vec![0; length as usize];
        rng.fill_bytes(&mut data);
        file.write_all_at(&data, offset).unwrap();
    }
    path
}

fn write_at(image: &Path, offset: u64, data: &[u8]) {
    let file = OpenOptions::new().write(true).open(image).unwrap();
    file.write_all_at(data, offset).unwrap();
}

fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn assert_blob_equals_image(service: &Service, image: &Path) {
    let expected = std::fs::read(image).unwrap();
    let found = service.read_blob(None, expected.len() as u64).await;
    assert!(
        found == expected,
        "the blob's bytes differ from the image's"
    );
}

#[tokio::test]
async fn a_sparse_image_syncs_and_then_only_its_changes_upload() {
    let service = Service::spawn_with_disk(GIB).await;
    let dir = tempfile::tempdir().unwrap();
    let image = sparse_image(dir.path(), 32 * MIB, 1);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut disk = LocalDisk::open(&image, service.target(), &state).unwrap();
    assert_eq!(disk.size_bytes(), 32 * MIB);

    let first = disk.sync().await.unwrap();
    assert!(first.full_resync);
    assert!(first.uploaded_bytes > 0);
    assert!(
        first.scanned_bytes < 32 * MIB,
        "holes are skipped: {first:?}"
    );
    assert_eq!(first.cleared_bytes, 0, "a new blob holds nothing to clear");
    assert_blob_equals_image(&service, &image).await;

    let unchanged = disk.sync().await.unwrap();
    assert!(!unchanged.full_resync);
    assert_eq!(
        (
            unchanged.uploaded_bytes,
            unchanged.cleared_bytes,
            unchanged.requests
        ),
        (0, 0, 0)
    );

    // Three blocks change (one a former hole), one data block is zeroed and one punched.
    let data_blocks: Vec<u64> = {
        let bytes = std::fs::read(&image).unwrap();
        bytes
            .chunks(BLOCK as usize)
            .enumerate()
            .filter(|(_, block)| block.iter().any(|&b| b != 0))
            .map(|(index, _)| index as u64)
            .collect()
    };
    let spaced: Vec<u64> = data_blocks.iter().copied().filter(|b| b % 4 == 0).collect();
    let hole_block = (0..512)
        .find(|b| !data_blocks.contains(b) && b % 4 == 2)
        .unwrap();
    write_at(&image, spaced[0] * BLOCK + 100, b"changed");
    write_at(&image, spaced[1] * BLOCK + BLOCK - 1, b"!");
    write_at(&image, hole_block * BLOCK + 4096, b"new data in a hole");
    write_at(&image, spaced[2] * BLOCK, &vec![0; BLOCK as usize]);
    run(Command::new("fallocate")
        .args(["--punch-hole", "--offset"])
        .arg((spaced[3] * BLOCK).to_string())
        .args(["--length", &BLOCK.to_string()])
        .arg(&image));

    let delta = disk.sync().await.unwrap();
    assert!(!delta.full_resync);
    assert_eq!(delta.uploaded_bytes, 3 * BLOCK, "{delta:?}");
    assert_eq!(delta.cleared_bytes, 2 * BLOCK, "{delta:?}");
    assert_eq!(delta.requests, 5, "{delta:?}");
    assert_blob_equals_image(&service, &image).await;
}

#[tokio::test]
async fn the_shadow_survives_a_restart_and_is_distrusted_once_the_blob_changes() {
    let service = Service::spawn_with_disk(GIB).await;
    let dir = tempfile::tempdir().unwrap();
    let image = sparse_image(dir.path(), 16 * MIB, 2);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let first = LocalDisk::open(&image, service.target(), &state)
        .unwrap()
        .sync()
        .await
        .unwrap();
    assert!(first.full_resync);
    assert!(state.join("disk.img.shadow").exists());

    // A restarted agent trusts the saved shadow: nothing to upload.
    let mut reopened = LocalDisk::open(&image, service.target(), &state).unwrap();
    let after_restart = reopened.sync().await.unwrap();
    assert!(!after_restart.full_resync);
    assert_eq!(
        (after_restart.uploaded_bytes, after_restart.requests),
        (0, 0)
    );

    // Someone else writes the blob where the image has a hole: the ETag no longer matches,
    // so the shadow is rebuilt from the page ranges and the foreign write is cleared.
    let image_bytes = std::fs::read(&image).unwrap();
    let hole = (0..image_bytes.len() as u64 / BLOCK)
        .find(|&b| {
            image_bytes[(b * BLOCK) as usize..((b + 1) * BLOCK) as usize]
                .iter()
                .all(|&x| x == 0)
        })
        .unwrap();
    service.put_page(hole * BLOCK, vec![0xAB; 8192]).await;
    let after_foreign_write = reopened.sync().await.unwrap();
    assert!(after_foreign_write.full_resync);
    assert!(after_foreign_write.cleared_bytes >= 8192);
    assert_blob_equals_image(&service, &image).await;

    // The blob is recreated (empty): a fresh agent's saved shadow no longer matches and
    // everything is uploaded again.
    service.delete_blob().await;
    service.create_page_blob(GIB).await;
    let recreated = LocalDisk::open(&image, service.target(), &state)
        .unwrap()
        .sync()
        .await
        .unwrap();
    assert!(recreated.full_resync);
    assert_eq!(recreated.uploaded_bytes, first.uploaded_bytes);
    assert_blob_equals_image(&service, &image).await;

    // A torn state file is not trusted either.
    let shadow_file = state.join("disk.img.shadow");
    let saved = std::fs::read(&shadow_file).unwrap();
    std::fs::write(&shadow_file, &saved[..saved.len() / 2]).unwrap();
    let after_torn = LocalDisk::open(&image, service.target(), &state)
        .unwrap()
        .sync()
        .await
        .unwrap();
    assert!(after_torn.full_resync);
    assert_blob_equals_image(&service, &image).await;
}

#[tokio::test]
async fn an_image_larger_than_its_blob_is_refused() {
    let service = Service::spawn_with_disk(4 * MIB).await;
    let dir = tempfile::tempdir().unwrap();
    let image = sparse_image(dir.path(), 8 * MIB, 3);
    let mut disk = LocalDisk::open(&image, service.target(), dir.path()).unwrap();
    let error = disk.sync().await.unwrap_err();
    assert!(
        matches!(
            error,
            LocalDiskError::ImageLargerThanBlob {
                image_bytes,
                blob_bytes,
                ..
            } if image_bytes == 8 * MIB && blob_bytes == 4 * MIB
        ),
        "{error}"
    );
}

#[test]
fn an_image_that_is_not_whole_pages_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("odd.img");
    File::create(&image).unwrap().set_len(1000).unwrap();
    let target = PageBlobTarget::new(
        "http://127.0.0.1:9/devstoreaccount1/disks/d.vhd",
        ACCOUNT,
        DEV_ACCOUNT_KEY,
    )
    .unwrap();
    let error = LocalDisk::open(&image, target, dir.path()).unwrap_err();
    assert!(
        matches!(
            error,
            LocalDiskError::ImageSizeNotPageAligned {
                size_bytes: 1000,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_target_never_shows_its_account_key() {
    let target = PageBlobTarget::new(
        "http://127.0.0.1:9/devstoreaccount1/disks/d.vhd",
        ACCOUNT,
        DEV_ACCOUNT_KEY,
    )
    .unwrap();
    let shown = format!("{target:?}");
    assert!(!shown.contains(&DEV_ACCOUNT_KEY[..12]), "{shown}");
}

/// Another filesystem mounted over the image's mount point is what that path opens onto:
/// the image's own mount is then not reachable, and not mistaken for it.
#[test]
fn a_mount_point_covered_by_another_filesystem_is_not_the_images_mount() {
    if !can_run_root_tests() {
        return;
    }
    let mounted = LoopExt4::new(16);
    let mount = mounted.mount.to_str().unwrap();
    assert_eq!(
        own_mount_of(&mounted.image).unwrap(),
        std::fs::canonicalize(&mounted.mount).unwrap()
    );
    crate::common::root::run("mount", &["-t", "tmpfs", "cover", mount]);
    let covered = own_mount_of(&mounted.image);
    crate::common::root::run("umount", &[mount]);
    assert!(
        matches!(covered, Err(NotMounted::MountPointCovered { .. })),
        "{covered:?}"
    );
}

#[tokio::test]
async fn a_loop_mounted_ext4_image_snapshots_consistently() {
    if !can_run_root_tests() {
        return;
    }
    let service = Service::spawn_with_disk(GIB).await;
    let mounted = LoopExt4::new(64);
    let dir = &mounted.dir;
    let found = loop_mount_of(&mounted.image)
        .unwrap()
        .expect("a loop device backs the image");
    assert!(
        found.device.to_string_lossy().starts_with("/dev/loop"),
        "{found:?}"
    );
    assert_eq!(
        found.mount_point,
        Some(std::fs::canonicalize(&mounted.mount).unwrap())
    );

    let mut big = vec![0u8; 3 * MIB as usize];
    rand::rngs::StdRng::seed_from_u64(4).fill_bytes(&mut big);
    std::fs::write(mounted.mount.join("hello.txt"), b"hello, disk\n").unwrap();
    std::fs::create_dir(mounted.mount.join("dir")).unwrap();
    std::fs::write(mounted.mount.join("dir/big.bin"), &big).unwrap();
    run(&mut Command::new("sync"));

    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut disk = LocalDisk::open(&mounted.image, service.target(), &state).unwrap();
    let before_freeze = disk.sync().await.unwrap();
    assert!(before_freeze.uploaded_bytes >= 3 * MIB, "{before_freeze:?}");

    // Written after the bulk sync: only the frozen sync carries it.
    let mut late = File::create(mounted.mount.join("late.txt")).unwrap();
    late.write_all(b"written just before the freeze\n").unwrap();
    drop(late);
    crate::common::root::run("fsfreeze", &["-f", mounted.mount.to_str().unwrap()]);
    let frozen = disk.sync().await;
    let snapshot = service.snapshot().await;
    crate::common::root::run("fsfreeze", &["-u", mounted.mount.to_str().unwrap()]);
    let frozen = frozen.unwrap();
    assert!(frozen.uploaded_bytes > 0, "{frozen:?}");
    assert!(
        frozen.uploaded_bytes < before_freeze.uploaded_bytes,
        "{frozen:?}"
    );

    // The filesystem keeps changing after the thaw; the snapshot does not.
    std::fs::write(mounted.mount.join("after.txt"), b"too late").unwrap();
    run(&mut Command::new("sync"));
    disk.sync().await.unwrap();

    let copy = dir.path().join("snapshot.img");
    std::fs::write(&copy, service.read_blob(Some(&snapshot), 64 * MIB).await).unwrap();
    run(Command::new("e2fsck").arg("-fn").arg(&copy));
    assert_eq!(debugfs_cat(&copy, "/hello.txt"), b"hello, disk\n");
    assert_eq!(
        debugfs_cat(&copy, "/late.txt"),
        b"written just before the freeze\n"
    );
    assert!(debugfs_cat(&copy, "/dir/big.bin") == big, "big.bin differs");
    assert!(debugfs_cat(&copy, "/after.txt").is_empty());
}

#[tokio::test]
async fn writing_back_the_guests_changes_lets_a_sync_see_them() {
    if !can_run_root_tests() {
        return;
    }
    let service = Service::spawn_with_disk(GIB).await;
    let mounted = LoopExt4::new(64);
    let state = mounted.dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    crate::common::root::run("sync", &[]);
    let mut disk = LocalDisk::open(&mounted.image, service.target(), &state).unwrap();
    disk.sync().await.unwrap();

    // Written, not synced: the data sits in the guest's page cache, not in the image.
    let mut data = vec![0u8; 2 * MIB as usize];
    rand::rngs::StdRng::seed_from_u64(9).fill_bytes(&mut data);
    std::fs::write(mounted.mount.join("dirty.bin"), &data).unwrap();
    assert!(
        disk.write_back_guest_changes().unwrap(),
        "the image is loop-mounted"
    );
    let synced = disk.sync().await.unwrap();
    assert!(synced.uploaded_bytes >= 2 * MIB, "{synced:?}");
}
