//! Where a recovery point's data lives, disk by disk, as `recovery_point.disks` stores it:
//! written by the transfer, read by restore and by expiry.

use serde::{Deserialize, Serialize};

use super::EngineError;

/// Where one disk of a recovery point lives: its instant snapshot (until retention deletes
/// it) and its vault copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPointDisk {
    pub lun: i64,
    pub container: String,
    pub blob: String,
    /// The disk snapshot (the InstantRP tier); `None` once deleted.
    pub snapshot: Option<i64>,
    pub vault_container: String,
    pub vault_blob: String,
    /// The vault blob's snapshot (the HardenedRP tier).
    pub vault_snapshot: i64,
    pub bytes_transferred: u64,
    /// The disk's storage account (where its instant snapshot is); `None`: the primary,
    /// which also holds every vault copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl RecoveryPointDisk {
    /// The disks of a point as `recovery_point.disks` stores them; none when null.
    pub fn parse_list(disks: Option<&str>) -> Result<Vec<Self>, EngineError> {
        match disks {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| EngineError::corrupt("recovery point disks", e)),
            None => Ok(Vec::new()),
        }
    }
}
