//! Reclaiming space nothing references: mark every extent live blobs, snapshots, staged
//! blocks and in-flight uploads use, wait until no reader holds older data, then delete
//! dead segments and punch holes in the dead parts of live ones.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::model::BlobBody;
use super::pagemap::{PageMap, PAGE_SIZE};
use super::segments::Extent;
use super::{BlobStore, StoreError};

/// After something may have become garbage, wait this long so that a burst of deletes or
/// overwrites is collected in one pass.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// Under a steady stream of overwrites, pass at most this often: a pass walks all metadata.
const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// What one pass reclaimed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectStats {
    pub segments_removed: usize,
    pub bytes_punched: u64,
}

impl BlobStore {
    /// Runs forever: one collection pass after each burst of changes that may free space.
    pub async fn run_collector(self: &Arc<Self>) {
        loop {
            self.garbage.notified().await;
            tokio::time::sleep(DEBOUNCE).await;
            match self.collect_garbage().await {
                Ok(stats) if stats != CollectStats::default() => {
                    tracing::debug!(?stats, "reclaimed unreferenced blob data")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "blob data collection failed"),
            }
            tokio::time::sleep(MIN_INTERVAL - DEBOUNCE).await;
        }
    }

    /// One pass. Marking and sweeping walk metadata and make many syscalls, so they run on
    /// the blocking pool, never on a runtime worker that serves requests.
    pub async fn collect_garbage(self: &Arc<Self>) -> Result<CollectStats, StoreError> {
        let store = self.clone();
        let (live, tail) = tokio::task::spawn_blocking(move || store.mark())
            .await
            .map_err(std::io::Error::other)?;
        let epoch = self.pins.advance();
        while self.pins.any_reader_before(epoch) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.sweep(&live, tail))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Deletes dead segments and punches the dead ranges of live ones.
    fn sweep(
        &self,
        live: &HashMap<u32, BTreeMap<u64, u64>>,
        (active_segment, reserved): (u32, u64),
    ) -> Result<CollectStats, StoreError> {
        let mut stats = CollectStats::default();
        for (segment, file_len) in self.segments.list()? {
            let limit = if segment == active_segment {
                reserved.min(file_len)
            } else if segment > active_segment {
                continue;
            } else {
                file_len
            };
            let used = live.get(&segment);
            let live_bytes: u64 = used.into_iter().flatten().map(|(s, e)| e - s).sum();
            // A sealed segment's live set only shrinks; unchanged means no new holes.
            let sealed = segment < active_segment;
            if sealed && self.collected.lock().get(&segment) == Some(&live_bytes) {
                continue;
            }
            match used {
                None if sealed => {
                    self.segments.remove(segment)?;
                    self.collected.lock().remove(&segment);
                    stats.segments_removed += 1;
                    continue;
                }
                used => {
                    let mut cursor = 0u64;
                    let holes = used
                        .into_iter()
                        .flatten()
                        .map(|(&start, &end)| (start, end))
                        .chain([(limit, limit)]);
                    for (start, end) in holes {
                        if start > cursor && cursor < limit {
                            let len = start.min(limit) - cursor;
                            self.segments.punch_hole(segment, cursor, len)?;
                            stats.bytes_punched += len;
                        }
                        cursor = cursor.max(end);
                    }
                }
            }
            // Recorded only once swept: a pass that failed part-way is retried.
            if sealed {
                self.collected.lock().insert(segment, live_bytes);
            }
        }
        Ok(stats)
    }

    /// Every live byte range per segment (merged, start -> end), and the segment tail at
    /// marking time: space reserved later is never garbage of this pass.
    fn mark(&self) -> (HashMap<u32, BTreeMap<u64, u64>>, (u32, u64)) {
        // Under the lock, only clone page maps (O(1) each) and list extents; walk after.
        let mut maps: Vec<PageMap> = Vec::new();
        let mut extents: Vec<Extent> = Vec::new();
        let tail = {
            let state = self.state.lock();
            for container in state.containers.values() {
                for entry in container.blobs.values() {
                    for version in entry
                        .snapshots
                        .values()
                        .map(|v| &**v)
                        .chain([&entry.current])
                    {
                        match &version.body {
                            BlobBody::Page { pages, .. } => maps.push(pages.clone()),
                            BlobBody::Block { blocks } => {
                                extents.extend(blocks.iter().map(|b| b.extent))
                            }
                        }
                    }
                }
                extents.extend(container.staged.values().flat_map(|s| s.values().copied()));
            }
            extents.extend(self.inflight.extents.lock().values().copied());
            self.segments.reserved_tail()
        };
        let mut ranges: HashMap<u32, Vec<(u64, u64)>> = HashMap::new();
        let mut add = |segment: u32, offset: u64, len: u64| {
            ranges
                .entry(segment)
                .or_default()
                .push((offset, offset + len))
        };
        let mut seen = HashSet::new();
        for map in &maps {
            map.visit_data(&mut seen, &mut |at, n| {
                add(at.segment, at.offset, n * PAGE_SIZE)
            });
        }
        for extent in extents {
            add(extent.at.segment, extent.at.offset, extent.len);
        }
        let merged = ranges
            .into_iter()
            .map(|(segment, mut list)| {
                list.sort_unstable();
                let mut out: BTreeMap<u64, u64> = BTreeMap::new();
                let mut current: Option<(u64, u64)> = None;
                for (s, e) in list {
                    current = match current {
                        Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
                        Some((cs, ce)) => {
                            out.insert(cs, ce);
                            Some((s, e))
                        }
                        None => Some((s, e)),
                    };
                }
                if let Some((cs, ce)) = current {
                    out.insert(cs, ce);
                }
                (segment, out)
            })
            .collect();
        (merged, tail)
    }
}
