//! A disk snapshot's URL as the extension reports it in `snapshotInfo[].snapshotUri`:
//! `<scheme>://<host>/<account>/<container>/<blob>?snapshot=<id>`.

use percent_encoding::percent_decode_str;

/// The disk blob and snapshot a `snapshotUri` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotUri {
    pub container: String,
    pub blob: String,
    /// The snapshot id (`x-ms-snapshot`), percent-decoded.
    pub snapshot: String,
}

impl SnapshotUri {
    /// The container, blob and snapshot of `uri`; `None` without a `snapshot=` parameter, an
    /// account, container and blob in the path, or with a name that is not UTF-8 once
    /// decoded.
    pub fn parse(uri: &str) -> Option<SnapshotUri> {
        let snapshot = snapshot_parameter(uri)?;
        let base = uri.split_once('?')?.0;
        let path = base.split_once("://")?.1.split_once('/')?.1;
        let mut segments = path.splitn(3, '/');
        let _account = segments.next()?;
        let container = segments.next()?;
        let blob = segments.next()?;
        Some(SnapshotUri {
            container: percent_decode_str(container)
                .decode_utf8()
                .ok()?
                .into_owned(),
            blob: percent_decode_str(blob).decode_utf8().ok()?.into_owned(),
            snapshot: percent_decode_str(snapshot)
                .decode_utf8_lossy()
                .into_owned(),
        })
    }
}

/// The `snapshot=` value of `uri`'s query, verbatim (the extension copies `x-ms-snapshot`
/// without encoding it).
pub fn snapshot_parameter(uri: &str) -> Option<&str> {
    let (_, query) = uri.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("snapshot="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_uris_name_container_blob_and_snapshot() {
        let parsed = SnapshotUri::parse(
            "https://127.0.0.1/devstoreaccount1/vm-abc/datadisk%2D0.vhd?snapshot=2026-11-26T01:02:03.1234567Z",
        )
        .unwrap();
        assert_eq!(parsed.container, "vm-abc");
        assert_eq!(parsed.blob, "datadisk-0.vhd");
        assert_eq!(parsed.snapshot, "2026-11-26T01:02:03.1234567Z");
        assert!(SnapshotUri::parse("https://h/acct/c/b").is_none());
        assert!(
            SnapshotUri::parse("https://h/acct/c?snapshot=2026-11-26T01:02:03.1234567Z").is_none()
        );
    }

    #[test]
    fn the_snapshot_parameter_is_taken_verbatim() {
        assert_eq!(
            snapshot_parameter("http://h/c/os?sv=1&snapshot=2023-11-14T22%3A13%3A20Z"),
            Some("2023-11-14T22%3A13%3A20Z")
        );
        assert_eq!(snapshot_parameter("http://h/c/os"), None);
        assert_eq!(snapshot_parameter("http://h/c/os?sv=1"), None);
    }
}
