//! A 201 means the bytes survive `kill -9`: every acknowledged write, snapshot and upload
//! is there after a restart, and nothing half-written is visible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{BlobClient, ServiceProcess};

const SLOT: u64 = 64 << 10;
const SLOTS_PER_WRITER: u64 = 64;
const WRITERS: u64 = 4;
const BLOB: &str = "/disks/disk0.vhd";

/// The content of write `seq` by `writer` to `slot`: recognisable in every 512-byte page,
/// so a torn write (part old, part new) cannot pass for a whole one.
fn pattern(writer: u64, slot: u64, seq: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(SLOT as usize);
    for page in 0..SLOT / 512 {
        let stamp = format!("w{writer}-s{slot}-q{seq}-p{page};");
        data.extend(stamp.bytes().cycle().take(512));
    }
    data
}

#[derive(Default)]
struct WriterLog {
    /// slot -> sequence number of the last acknowledged write.
    acked: HashMap<u64, u64>,
    /// The write that was sent but not answered when the service died.
    in_flight: Option<(u64, u64)>,
    snapshots: Vec<String>,
}

/// Writes slot after slot of its own region until the service stops answering.
async fn write_until_killed(client: BlobClient, writer: u64, log: Arc<Mutex<WriterLog>>) {
    for seq in 1.. {
        let slot = (seq * 7 + writer) % SLOTS_PER_WRITER;
        let offset = (writer * SLOTS_PER_WRITER + slot) * SLOT;
        log.lock().unwrap().in_flight = Some((slot, seq));
        let Ok(response) = client
            .try_put_page(BLOB, offset, pattern(writer, slot, seq))
            .await
        else {
            return;
        };
        assert_eq!(response.status(), 201, "writes succeed until the kill");
        {
            let mut log = log.lock().unwrap();
            log.in_flight = None;
            log.acked.insert(slot, seq);
        }
        if seq % 16 == 0 {
            let Ok(response) = client.try_snapshot(BLOB).await else {
                return;
            };
            let id = response.headers()["x-ms-snapshot"]
                .to_str()
                .unwrap()
                .to_owned();
            log.lock().unwrap().snapshots.push(id);
        }
    }
}

/// Checkpoints every 4 KiB of journal, so that the kill lands among checkpoints too.
const CHECKPOINT_OFTEN: &[(&str, &str)] = &[("VAULTSIM_BLOB_CHECKPOINT_BYTES", "4096")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_snapshots_and_uploads_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_with(data.path(), "debug", CHECKPOINT_OFTEN);
    let client = service.client();
    assert_eq!(client.create_container("disks").await.status(), 201);
    let size = WRITERS * SLOTS_PER_WRITER * SLOT;
    assert_eq!(client.create_page_blob(BLOB, size).await.status(), 201);
    let upload: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let response = client
        .put_block_blob("/disks/settings.bin", upload.clone())
        .await;
    assert_eq!(response.status(), 201);

    let logs: Vec<Arc<Mutex<WriterLog>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(write_until_killed(
                client.clone(),
                w,
                logs[w as usize].clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        service.log().contains("blob store checkpoint written"),
        "checkpoints were taken under load"
    );
    service.kill_hard();
    for writer in writers {
        writer.await.unwrap();
    }

    let service = ServiceProcess::start_with(data.path(), "info", CHECKPOINT_OFTEN);
    let client = service.client();
    let response = client.get_blob(BLOB).await;
    assert_eq!(response.status(), 200);
    let content = response.bytes().await.unwrap();
    assert_eq!(content.len() as u64, size);
    let mut acked_total = 0;
    for (writer, log) in logs.iter().enumerate() {
        let writer = writer as u64;
        let log = log.lock().unwrap();
        acked_total += log.acked.len();
        for slot in 0..SLOTS_PER_WRITER {
            let offset = ((writer * SLOTS_PER_WRITER + slot) * SLOT) as usize;
            let found = &content[offset..offset + SLOT as usize];
            let acked = log.acked.get(&slot).map(|&seq| pattern(writer, slot, seq));
            let in_flight = log
                .in_flight
                .filter(|(s, _)| *s == slot)
                .map(|(_, seq)| pattern(writer, slot, seq));
            let zeros = vec![0u8; SLOT as usize];
            let allowed: Vec<&Vec<u8>> = [acked.as_ref(), in_flight.as_ref()]
                .into_iter()
                .flatten()
                .chain((!log.acked.contains_key(&slot)).then_some(&zeros))
                .collect();
            assert!(
                allowed.iter().any(|a| a.as_slice() == found),
                "writer {writer} slot {slot}: neither the last acknowledged write nor a whole in-flight one"
            );
        }
    }
    assert!(
        acked_total > 0,
        "the load acknowledged writes before the kill"
    );

    let listing = client
        .list_blobs_with_snapshots("disks")
        .await
        .text()
        .await
        .unwrap();
    for log in &logs {
        for id in &log.lock().unwrap().snapshots {
            assert!(listing.contains(id), "acknowledged snapshot {id} is listed");
        }
    }
    let stored = client
        .get_blob("/disks/settings.bin")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        stored.as_ref() == upload.as_slice(),
        "the acknowledged upload is whole"
    );
}
