//! List Blobs: a page of a container's blobs (with their snapshots when asked), in name
//! order, folded at a delimiter into prefixes, continuing from a marker.

use super::model::Timestamp;
use super::{BlobStore, ListBlobsPage, ListBlobsQuery, ListItem, ListMarker, StoreError};

impl BlobStore {
    pub fn list_blobs(
        &self,
        container: &str,
        query: &ListBlobsQuery,
    ) -> Result<ListBlobsPage, StoreError> {
        let state = self.state.lock();
        let c = state.container(container)?;
        let start = query
            .marker
            .as_ref()
            .map_or(query.prefix.as_str(), |m| m.name.as_str());
        let mut items = Vec::new();
        let mut last_prefix: Option<String> = None;
        let max = query.max_results.max(1);
        for (name, entry) in c
            .blobs
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
        {
            if !name.starts_with(&query.prefix) {
                break;
            }
            if let Some(delimiter) = query.delimiter.as_deref().filter(|d| !d.is_empty()) {
                let rest = &name[query.prefix.len()..];
                if let Some(cut) = rest.find(delimiter) {
                    let prefix = format!("{}{}", query.prefix, &rest[..cut + delimiter.len()]);
                    // A page never ends inside a group: a marker names the first blob of
                    // the next item, so a group met here has not been listed yet.
                    if last_prefix.as_deref() != Some(prefix.as_str()) {
                        if items.len() == max {
                            return Ok(ListBlobsPage {
                                items,
                                next_marker: Some(ListMarker {
                                    name: name.clone(),
                                    snapshot: None,
                                }),
                            });
                        }
                        items.push(ListItem::Prefix(prefix.clone()));
                        last_prefix = Some(prefix);
                    }
                    continue;
                }
            }
            // Snapshots first, oldest to newest, then the base blob.
            let snapshots = query
                .include_snapshots
                .then_some(&entry.snapshots)
                .into_iter()
                .flatten()
                .map(|(at, v)| (Some(*at), &**v));
            for (snapshot, version) in snapshots.chain([(None, &entry.current)]) {
                if let Some(m) = &query.marker {
                    if m.name == *name && !marker_reached(m.snapshot, snapshot) {
                        continue;
                    }
                }
                if items.len() == max {
                    return Ok(ListBlobsPage {
                        items,
                        next_marker: Some(ListMarker {
                            name: name.clone(),
                            snapshot,
                        }),
                    });
                }
                items.push(ListItem::Blob {
                    name: name.clone(),
                    snapshot,
                    properties: Box::new(version.properties()),
                });
            }
        }
        Ok(ListBlobsPage {
            items,
            next_marker: None,
        })
    }
}

/// Whether a listing that stopped at `marker` (a snapshot of a blob, or its base) has
/// reached `item` of the same blob. Snapshots come first, base last.
fn marker_reached(marker: Option<Timestamp>, item: Option<Timestamp>) -> bool {
    match (marker, item) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(_), None) => true,
        (Some(m), Some(i)) => i >= m,
    }
}
