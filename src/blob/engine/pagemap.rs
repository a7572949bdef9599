//! The page map of a page blob: which 512-byte pages hold data, and where that data lives.
//!
//! It is a persistent radix tree. Cloning a map is O(1) (one `Arc`), which is what makes a
//! blob snapshot O(1); a write copies only the path to the leaves it touches (copy-on-write
//! through `Arc::make_mut`), so a snapshot and its base share every untouched subtree.
//! Because untouched subtrees stay pointer-equal, a diff between two versions skips them
//! and costs in proportion to what changed, not to the blob size or the data written.
//!
//! Every write lands at a fresh place in the data segments, so "this page changed" is
//! exactly "this page points somewhere else now", even when the same bytes were rewritten
//! (Azure tracks writes, not contents).

use std::sync::Arc;

pub use vaultsim_protocol::page_blob::PAGE_SIZE;

/// Pages under one leaf (4 MiB of blob address space): a 4 MiB Put Page fills at most two.
const LEAF_PAGES_BITS: u32 = 13;
const LEAF_PAGES: u64 = 1 << LEAF_PAGES_BITS;
/// Children of an inner node.
const FANOUT_BITS: u32 = 7;
const FANOUT: usize = 1 << FANOUT_BITS;
/// Inner levels above the leaves: 13 + 3 * 7 = 34 bits of pages = 8 TiB, Azure's maximum.
const INNER_LEVELS: u32 = 3;
/// Pages addressable by the tree.
pub const MAX_PAGES: u64 = 1 << (LEAF_PAGES_BITS + FANOUT_BITS * INNER_LEVELS);

/// Where the bytes of a run of pages live: a segment file and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DataLocation {
    pub segment: u32,
    pub offset: u64,
}

impl DataLocation {
    fn advanced_by_pages(self, pages: u64) -> Self {
        Self {
            segment: self.segment,
            offset: self.offset + pages * PAGE_SIZE,
        }
    }
}

/// A run of consecutive pages inside one leaf whose data is contiguous in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// First page, relative to the leaf.
    start: u32,
    len: u32,
    data: DataLocation,
}

impl Run {
    fn end(&self) -> u32 {
        self.start + self.len
    }

    /// The part of this run within `[from, to)` (leaf-relative), if any.
    fn clipped(&self, from: u32, to: u32) -> Option<Run> {
        let start = self.start.max(from);
        let end = self.end().min(to);
        (start < end).then(|| Run {
            start,
            len: end - start,
            data: self.data.advanced_by_pages(u64::from(start - self.start)),
        })
    }
}

#[derive(Debug, Clone)]
enum Node {
    Inner(Vec<Option<Arc<Node>>>),
    /// Sorted, non-overlapping runs.
    Leaf(Vec<Run>),
}

/// A contiguous piece of a read: either stored data or a hole that reads as zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Data { data: DataLocation, pages: u64 },
    Zeros { pages: u64 },
}

/// A range of pages `[first, first + count)` as the blob API lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpan {
    pub first: u64,
    pub count: u64,
}

impl PageSpan {
    pub fn end(&self) -> u64 {
        self.first + self.count
    }
}

/// One entry of a diff: pages written since the older version, or cleared since it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffSpan {
    Written(PageSpan),
    Cleared(PageSpan),
}

/// The page map of one version of a page blob. Clone is O(1).
#[derive(Debug, Clone, Default)]
pub struct PageMap {
    root: Option<Arc<Node>>,
}

impl PageMap {
    /// Maps pages `[first, first + count)` to consecutive pages starting at `data`.
    pub fn write(&mut self, first: u64, count: u64, data: DataLocation) {
        self.update(first, count, Some(data));
    }

    /// Unmaps pages `[first, first + count)`: they read as zeros again.
    pub fn clear(&mut self, first: u64, count: u64) {
        self.update(first, count, None);
    }

    fn update(&mut self, first: u64, count: u64, data: Option<DataLocation>) {
        let end = (first + count).min(MAX_PAGES);
        let mut page = first;
        while page < end {
            let leaf_index = page >> LEAF_PAGES_BITS;
            let leaf_base = leaf_index << LEAF_PAGES_BITS;
            let leaf_end = (leaf_base + LEAF_PAGES).min(end);
            let from = (page - leaf_base) as u32;
            let to = (leaf_end - leaf_base) as u32;
            let data = data.map(|d| d.advanced_by_pages(page - first));
            with_leaf(
                &mut self.root,
                leaf_index,
                INNER_LEVELS,
                data.is_some(),
                |runs| replace_runs(runs, from, to, data),
            );
            page = leaf_end;
        }
    }

    /// Drops every page at or after `pages` (a page blob shrinking).
    pub fn truncate(&mut self, pages: u64) {
        if pages < MAX_PAGES {
            self.clear(pages, MAX_PAGES - pages);
        }
    }

    /// The pieces that make up pages `[first, first + count)`, in order.
    pub fn read(&self, first: u64, count: u64) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut cursor = first;
        let end = first + count;
        self.for_each_run(first, end, |page, run_pages, data| {
            if page > cursor {
                pieces.push(Piece::Zeros {
                    pages: page - cursor,
                });
            }
            pieces.push(Piece::Data {
                data,
                pages: run_pages,
            });
            cursor = page + run_pages;
        });
        if end > cursor {
            pieces.push(Piece::Zeros {
                pages: end - cursor,
            });
        }
        pieces
    }

    /// The written page ranges within `[first, first + count)`, adjacent runs coalesced.
    pub fn ranges(&self, first: u64, count: u64) -> Vec<PageSpan> {
        let mut spans: Vec<PageSpan> = Vec::new();
        self.for_each_run(first, first + count, |page, pages, _| {
            push_coalesced(&mut spans, page, pages);
        });
        spans
    }

    /// Every data location this map references, with its length in pages (for the
    /// collector). Subtrees already in `seen` are skipped, so shared ones count once.
    pub fn visit_data(
        &self,
        seen: &mut std::collections::HashSet<usize>,
        visit: &mut impl FnMut(DataLocation, u64),
    ) {
        if let Some(root) = &self.root {
            visit_node_data(root, seen, visit);
        }
    }

    /// What changed from `older` to `self` within `[first, first + count)`: pages that
    /// point at other data (written) and pages no longer mapped (cleared), in page order,
    /// adjacent spans of one kind coalesced.
    pub fn diff(&self, older: &PageMap, first: u64, count: u64) -> Vec<DiffSpan> {
        let mut out = Vec::new();
        let end = (first + count).min(MAX_PAGES);
        diff_nodes(
            older.root.as_ref(),
            self.root.as_ref(),
            INNER_LEVELS,
            0,
            first,
            end,
            &mut out,
        );
        out
    }

    fn for_each_run(&self, first: u64, end: u64, mut f: impl FnMut(u64, u64, DataLocation)) {
        if let Some(root) = &self.root {
            walk_runs(root, INNER_LEVELS, 0, first, end.min(MAX_PAGES), &mut f);
        }
    }
}

/// Pages covered by one subtree at `level` (0 = leaf).
fn subtree_pages(level: u32) -> u64 {
    1 << (LEAF_PAGES_BITS + FANOUT_BITS * level)
}

/// Runs `f` on the leaf holding `leaf_index`, copying the path to it if it is shared
/// (copy-on-write), creating it if `create`, and pruning nodes that end up empty.
fn with_leaf(
    slot: &mut Option<Arc<Node>>,
    leaf_index: u64,
    level: u32,
    create: bool,
    f: impl FnOnce(&mut Vec<Run>),
) {
    if slot.is_none() {
        if !create {
            return;
        }
        *slot = Some(Arc::new(if level == 0 {
            Node::Leaf(Vec::new())
        } else {
            Node::Inner(vec![None; FANOUT])
        }));
    }
    if let Some(node) = slot.as_mut() {
        match Arc::make_mut(node) {
            Node::Leaf(runs) => f(runs),
            Node::Inner(children) => {
                let shift = FANOUT_BITS * (level - 1);
                let child = ((leaf_index >> shift) as usize) & (FANOUT - 1);
                with_leaf(&mut children[child], leaf_index, level - 1, create, f);
            }
        }
    }
    prune(slot);
}

/// Replaces whatever maps `[from, to)` in a leaf with `data` (or nothing).
fn replace_runs(runs: &mut Vec<Run>, from: u32, to: u32, data: Option<DataLocation>) {
    let first_overlap = runs.partition_point(|r| r.end() <= from);
    let past_overlap = runs.partition_point(|r| r.start < to);
    let mut replacement: Vec<Run> = Vec::with_capacity(3);
    if let Some(left) = runs
        .get(first_overlap)
        .filter(|r| r.start < from && first_overlap < past_overlap)
        .and_then(|r| r.clipped(r.start, from))
    {
        replacement.push(left);
    }
    if let Some(data) = data {
        replacement.push(Run {
            start: from,
            len: to - from,
            data,
        });
    }
    if past_overlap > first_overlap {
        if let Some(right) = runs[past_overlap - 1].clipped(to, u32::MAX) {
            replacement.push(right);
        }
    }
    runs.splice(first_overlap..past_overlap, replacement);
    merge_contiguous_around(runs, first_overlap);
}

/// Merges neighbours around `index` whose pages and data are both contiguous, so that
/// sequential writes keep a leaf at a handful of runs.
fn merge_contiguous_around(runs: &mut Vec<Run>, index: usize) {
    let lo = index.saturating_sub(1);
    let hi = (index + 3).min(runs.len());
    let mut i = lo;
    let mut hi = hi;
    while i + 1 < hi {
        let (a, b) = (runs[i], runs[i + 1]);
        if a.end() == b.start && a.data.advanced_by_pages(u64::from(a.len)) == b.data {
            runs[i].len += b.len;
            runs.remove(i + 1);
            hi -= 1;
        } else {
            i += 1;
        }
    }
}

/// Drops an empty leaf or inner node so that a cleared map compares and diffs cheaply.
fn prune(slot: &mut Option<Arc<Node>>) {
    let empty = match slot.as_deref() {
        None => return,
        Some(Node::Leaf(runs)) => runs.is_empty(),
        Some(Node::Inner(children)) => children.iter().all(Option::is_none),
    };
    if empty {
        *slot = None;
    }
}

fn walk_runs(
    node: &Node,
    level: u32,
    base: u64,
    first: u64,
    end: u64,
    f: &mut impl FnMut(u64, u64, DataLocation),
) {
    match node {
        Node::Leaf(runs) => {
            let from = first.saturating_sub(base).min(LEAF_PAGES) as u32;
            let to = end.saturating_sub(base).min(LEAF_PAGES) as u32;
            let start = runs.partition_point(|r| r.end() <= from);
            for run in runs[start..].iter().take_while(|r| r.start < to) {
                if let Some(c) = run.clipped(from, to) {
                    f(base + u64::from(c.start), u64::from(c.len), c.data);
                }
            }
        }
        Node::Inner(children) => {
            let span = subtree_pages(level - 1);
            for (i, child) in children.iter().enumerate() {
                let child_base = base + i as u64 * span;
                if child_base >= end || child_base + span <= first {
                    continue;
                }
                if let Some(child) = child {
                    walk_runs(child, level - 1, child_base, first, end, f);
                }
            }
        }
    }
}

fn visit_node_data(
    node: &Arc<Node>,
    seen: &mut std::collections::HashSet<usize>,
    visit: &mut impl FnMut(DataLocation, u64),
) {
    if !seen.insert(Arc::as_ptr(node) as usize) {
        return;
    }
    match node.as_ref() {
        Node::Leaf(runs) => runs.iter().for_each(|r| visit(r.data, u64::from(r.len))),
        Node::Inner(children) => children
            .iter()
            .flatten()
            .for_each(|c| visit_node_data(c, seen, visit)),
    }
}

fn push_coalesced(spans: &mut Vec<PageSpan>, first: u64, count: u64) {
    match spans.last_mut() {
        Some(last) if last.end() == first => last.count += count,
        _ => spans.push(PageSpan { first, count }),
    }
}

fn push_diff(out: &mut Vec<DiffSpan>, span: DiffSpan) {
    match (out.last_mut(), span) {
        (Some(DiffSpan::Written(last)), DiffSpan::Written(s))
        | (Some(DiffSpan::Cleared(last)), DiffSpan::Cleared(s))
            if last.end() == s.first =>
        {
            last.count += s.count;
        }
        _ => out.push(span),
    }
}

fn diff_nodes(
    older: Option<&Arc<Node>>,
    newer: Option<&Arc<Node>>,
    level: u32,
    base: u64,
    first: u64,
    end: u64,
    out: &mut Vec<DiffSpan>,
) {
    match (older, newer) {
        (None, None) => {}
        (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {}
        (Some(a), Some(b)) => match (a.as_ref(), b.as_ref()) {
            (Node::Leaf(old_runs), Node::Leaf(new_runs)) => {
                diff_leaves(old_runs, new_runs, base, first, end, out)
            }
            (Node::Inner(old_children), Node::Inner(new_children)) => {
                let span = subtree_pages(level - 1);
                for (i, (oc, nc)) in old_children.iter().zip(new_children).enumerate() {
                    let child_base = base + i as u64 * span;
                    if child_base >= end || child_base + span <= first {
                        continue;
                    }
                    diff_nodes(
                        oc.as_ref(),
                        nc.as_ref(),
                        level - 1,
                        child_base,
                        first,
                        end,
                        out,
                    );
                }
            }
            _ => unreachable!("both maps have the same fixed depth"),
        },
        (Some(a), None) => walk_runs(a, level, base, first, end, &mut |page, pages, _| {
            push_diff(
                out,
                DiffSpan::Cleared(PageSpan {
                    first: page,
                    count: pages,
                }),
            )
        }),
        (None, Some(b)) => walk_runs(b, level, base, first, end, &mut |page, pages, _| {
            push_diff(
                out,
                DiffSpan::Written(PageSpan {
                    first: page,
                    count: pages,
                }),
            )
        }),
    }
}

/// Sweeps two leaves' runs over their common breakpoints and classifies each interval.
fn diff_leaves(
    old_runs: &[Run],
    new_runs: &[Run],
    base: u64,
    first: u64,
    end: u64,
    out: &mut Vec<DiffSpan>,
) {
    let from = first.saturating_sub(base).min(LEAF_PAGES) as u32;
    let to = end.saturating_sub(base).min(LEAF_PAGES) as u32;
    let mut cuts: Vec<u32> = old_runs
        .iter()
        .chain(new_runs)
        .flat_map(|r| [r.start, r.end()])
        .filter(|&p| p > from && p < to)
        .collect();
    cuts.push(from);
    cuts.push(to);
    cuts.sort_unstable();
    cuts.dedup();
    let location_at = |runs: &[Run], page: u32| {
        let i = runs.partition_point(|r| r.end() <= page);
        runs.get(i)
            .filter(|r| r.start <= page)
            .map(|r| r.data.advanced_by_pages(u64::from(page - r.start)))
    };
    for window in cuts.windows(2) {
        let (start, stop) = (window[0], window[1]);
        let span = PageSpan {
            first: base + u64::from(start),
            count: u64::from(stop - start),
        };
        match (location_at(old_runs, start), location_at(new_runs, start)) {
            (old, Some(new)) if old != Some(new) => push_diff(out, DiffSpan::Written(span)),
            (Some(_), None) => push_diff(out, DiffSpan::Cleared(span)),
            _ => {}
        }
    }
}

/// A page map node as a checkpoint stores it: children by index into the node table,
/// which lists every node after its children, so that sharing survives a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum NodeImage {
    /// Present children as (slot, node index).
    Inner(Vec<(u8, u32)>),
    /// Runs as (first page in the leaf, pages, data).
    Leaf(Vec<(u32, u32, DataLocation)>),
}

/// Collects the nodes of many maps into one table, each shared node once.
#[derive(Debug, Default)]
pub struct NodeExporter {
    pub images: Vec<NodeImage>,
    ids: std::collections::HashMap<usize, u32>,
}

impl PageMap {
    /// Adds this map's nodes to `table`; returns the root's index.
    pub fn export(&self, table: &mut NodeExporter) -> Option<u32> {
        self.root.as_ref().map(|root| export_node(root, table))
    }

    /// Rebuilds a map from a node table made by `import_nodes`.
    pub fn import(root: Option<u32>, nodes: &NodeTable) -> Option<PageMap> {
        Some(PageMap {
            root: match root {
                None => None,
                Some(i) => Some(nodes.0.get(i as usize)?.clone()),
            },
        })
    }
}

fn export_node(node: &Arc<Node>, table: &mut NodeExporter) -> u32 {
    let key = Arc::as_ptr(node) as usize;
    if let Some(&id) = table.ids.get(&key) {
        return id;
    }
    let image = match node.as_ref() {
        Node::Leaf(runs) => {
            NodeImage::Leaf(runs.iter().map(|r| (r.start, r.len, r.data)).collect())
        }
        Node::Inner(children) => NodeImage::Inner(
            children
                .iter()
                .enumerate()
                .filter_map(|(slot, c)| c.as_ref().map(|c| (slot as u8, export_node(c, table))))
                .collect(),
        ),
    };
    let id = table.images.len() as u32;
    table.images.push(image);
    table.ids.insert(key, id);
    id
}

/// The nodes of a checkpoint, rebuilt and shared again, for `PageMap::import`.
#[derive(Debug)]
pub struct NodeTable(Vec<Arc<Node>>);

/// Rebuilds the nodes of a table. `None` when the table is inconsistent (a child listed
/// after its parent, a slot out of range, overlapping runs): a damaged checkpoint.
pub fn import_nodes(images: Vec<NodeImage>) -> Option<NodeTable> {
    let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(images.len());
    for image in images {
        let node = match image {
            NodeImage::Leaf(runs) => {
                let runs: Vec<Run> = runs
                    .into_iter()
                    .map(|(start, len, data)| Run { start, len, data })
                    .collect();
                let ordered = runs.windows(2).all(|w| w[0].end() <= w[1].start);
                let inside = runs
                    .iter()
                    .all(|r| u64::from(r.end()) <= LEAF_PAGES && r.len > 0);
                if !(ordered && inside) {
                    return None;
                }
                Node::Leaf(runs)
            }
            NodeImage::Inner(children) => {
                let mut slots = vec![None; FANOUT];
                for (slot, child) in children {
                    *slots.get_mut(slot as usize)? = Some(nodes.get(child as usize)?.clone());
                }
                Node::Inner(slots)
            }
        };
        nodes.push(Arc::new(node));
    }
    Some(NodeTable(nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset_pages: u64) -> DataLocation {
        DataLocation {
            segment: 1,
            offset: offset_pages * PAGE_SIZE,
        }
    }

    fn span(first: u64, count: u64) -> PageSpan {
        PageSpan { first, count }
    }

    #[test]
    fn unwritten_pages_read_as_zeros_and_written_ones_as_their_data() {
        let mut map = PageMap::default();
        map.write(2, 3, at(100));
        assert_eq!(
            map.read(0, 8),
            vec![
                Piece::Zeros { pages: 2 },
                Piece::Data {
                    data: at(100),
                    pages: 3
                },
                Piece::Zeros { pages: 3 },
            ]
        );
    }

    #[test]
    fn an_overwrite_in_the_middle_splits_the_run_in_three() {
        let mut map = PageMap::default();
        map.write(0, 10, at(0));
        map.write(4, 2, at(50));
        assert_eq!(
            map.read(0, 10),
            vec![
                Piece::Data {
                    data: at(0),
                    pages: 4
                },
                Piece::Data {
                    data: at(50),
                    pages: 2
                },
                Piece::Data {
                    data: at(6),
                    pages: 4
                },
            ]
        );
        assert_eq!(map.ranges(0, 100), vec![span(0, 10)]);
    }

    #[test]
    fn clearing_unmaps_and_ranges_skip_the_hole() {
        let mut map = PageMap::default();
        map.write(0, 10, at(0));
        map.clear(3, 2);
        assert_eq!(map.ranges(0, 100), vec![span(0, 3), span(5, 5)]);
        map.clear(0, 100);
        assert!(map.root.is_none(), "an empty map prunes to nothing");
    }

    #[test]
    fn writes_across_leaf_boundaries_read_back_in_order() {
        let mut map = PageMap::default();
        let first = LEAF_PAGES - 3;
        map.write(first, 10, at(7));
        assert_eq!(map.ranges(0, MAX_PAGES), vec![span(first, 10)]);
        let pages: u64 = map
            .read(first, 10)
            .iter()
            .map(|p| match p {
                Piece::Data { pages, .. } => *pages,
                Piece::Zeros { .. } => panic!("no hole expected"),
            })
            .sum();
        assert_eq!(pages, 10);
        assert_eq!(
            map.read(LEAF_PAGES, 1),
            vec![Piece::Data {
                data: at(10),
                pages: 1
            }]
        );
    }

    #[test]
    fn sequential_writes_with_contiguous_data_merge_into_one_run() {
        let mut map = PageMap::default();
        for i in 0..8 {
            map.write(i * 8, 8, at(1000 + i * 8));
        }
        assert_eq!(
            map.read(0, 64),
            vec![Piece::Data {
                data: at(1000),
                pages: 64
            }]
        );
    }

    #[test]
    fn a_snapshot_is_unaffected_by_later_writes() {
        let mut live = PageMap::default();
        live.write(0, 4, at(0));
        let snapshot = live.clone();
        live.write(0, 2, at(10));
        live.clear(2, 2);
        assert_eq!(
            snapshot.read(0, 4),
            vec![Piece::Data {
                data: at(0),
                pages: 4
            }]
        );
        assert_eq!(live.ranges(0, 4), vec![span(0, 2)]);
    }

    #[test]
    fn diff_reports_written_and_cleared_pages_like_azure() {
        // Write 0-1023, snapshot, write 0-511, clear 512-1023 (Azurite issue #298).
        let mut live = PageMap::default();
        live.write(0, 2, at(0));
        let older = live.clone();
        live.write(0, 1, at(10));
        live.clear(1, 1);
        assert_eq!(
            live.diff(&older, 0, MAX_PAGES),
            vec![DiffSpan::Written(span(0, 1)), DiffSpan::Cleared(span(1, 1))]
        );
    }

    #[test]
    fn diff_of_identical_versions_is_empty_and_rewrites_count_as_changes() {
        let mut live = PageMap::default();
        live.write(100, 50, at(0));
        let older = live.clone();
        assert!(live.diff(&older, 0, MAX_PAGES).is_empty());
        live.write(120, 1, at(500));
        assert_eq!(
            live.diff(&older, 0, MAX_PAGES),
            vec![DiffSpan::Written(span(120, 1))]
        );
    }

    #[test]
    fn diff_against_an_empty_map_lists_everything_written() {
        let mut live = PageMap::default();
        live.write(5, 5, at(0));
        live.write(MAX_PAGES - 1, 1, at(9));
        assert_eq!(
            live.diff(&PageMap::default(), 0, MAX_PAGES),
            vec![
                DiffSpan::Written(span(5, 5)),
                DiffSpan::Written(span(MAX_PAGES - 1, 1))
            ]
        );
    }

    #[test]
    fn diff_honours_the_requested_window() {
        let mut live = PageMap::default();
        let older = live.clone();
        live.write(0, 100, at(0));
        assert_eq!(
            live.diff(&older, 10, 20),
            vec![DiffSpan::Written(span(10, 20))]
        );
    }

    #[test]
    fn diff_only_visits_changed_leaves() {
        // 10,000 scattered writes, then 3 changes: the diff lists exactly those 3.
        let mut live = PageMap::default();
        for i in 0..10_000u64 {
            live.write(i * 997 * 8, 8, at(i * 8));
        }
        let older = live.clone();
        for i in [3u64, 5_000, 9_999] {
            live.write(i * 997 * 8, 1, at(1_000_000 + i));
        }
        let diff = live.diff(&older, 0, MAX_PAGES);
        assert_eq!(
            diff,
            [3u64, 5_000, 9_999]
                .iter()
                .map(|i| DiffSpan::Written(span(i * 997 * 8, 1)))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn truncate_drops_pages_beyond_the_new_size() {
        let mut live = PageMap::default();
        live.write(0, 20, at(0));
        live.truncate(8);
        assert_eq!(live.ranges(0, MAX_PAGES), vec![span(0, 8)]);
    }

    #[test]
    fn export_and_import_keep_contents_and_sharing() {
        let mut live = PageMap::default();
        live.write(3, 9, at(0));
        live.write(LEAF_PAGES * 300 + 5, 2, at(90));
        let snapshot = live.clone();
        live.write(4, 1, at(500));
        let mut table = NodeExporter::default();
        let roots = [live.export(&mut table), snapshot.export(&mut table)];
        let nodes = import_nodes(table.images).unwrap();
        let live2 = PageMap::import(roots[0], &nodes).unwrap();
        let snapshot2 = PageMap::import(roots[1], &nodes).unwrap();
        assert_eq!(
            live2.read(0, MAX_PAGES.min(LEAF_PAGES * 400)),
            live.read(0, LEAF_PAGES * 400)
        );
        assert_eq!(
            live2.diff(&snapshot2, 0, MAX_PAGES),
            live.diff(&snapshot, 0, MAX_PAGES)
        );
        // Each map has its own first leaf (9 pages each); the untouched far leaf is still
        // one node shared by both, so its 2 pages count once.
        let mut seen = std::collections::HashSet::new();
        let mut pages = 0;
        for map in [&live2, &snapshot2] {
            map.visit_data(&mut seen, &mut |_, n| pages += n);
        }
        assert_eq!(pages, 9 + 9 + 2);
    }

    #[test]
    fn damaged_node_tables_are_refused() {
        assert!(import_nodes(vec![NodeImage::Inner(vec![(0, 0)])]).is_none());
        assert!(import_nodes(vec![NodeImage::Leaf(vec![(0, 4, at(0)), (2, 4, at(9))])]).is_none());
    }

    #[test]
    fn visiting_data_counts_shared_subtrees_once() {
        let mut live = PageMap::default();
        live.write(0, 4, at(0));
        let snapshot = live.clone();
        live.write(LEAF_PAGES * 200, 4, at(40));
        let mut seen = std::collections::HashSet::new();
        let mut pages = 0;
        for map in [&live, &snapshot] {
            map.visit_data(&mut seen, &mut |_, n| pages += n);
        }
        assert_eq!(pages, 8);
    }
}
