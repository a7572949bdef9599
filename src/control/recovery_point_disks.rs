//! Where a recovery point's data lives, disk by disk, as `recovery_point.disks` stores it:
//! written by the transfer, read by restore and by expiry, and by the next transfer of the
//! item as the base of its increment.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::group_commit::Batched;
use super::EngineError;
use crate::store::{value_rows, Db};

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

/// The item a transfer copies into, and the transfer's own task: the base of its increment
/// is the item's newest point with disks recorded by another task.
#[derive(Debug)]
pub struct PreviousPointOf {
    pub vault_id: String,
    pub item_key: String,
    pub task_id: String,
}

/// Reads of transfers' previous points, many in one statement (see
/// [`super::group_commit`]), each answered with that point's disks (none for an item's
/// first point). A transfer asks once it holds its item's lock, so that a transfer of the
/// same item that ran before it is already recorded.
#[derive(Debug)]
pub struct PreviousPoints;

/// Transfers whose previous points are read in one statement.
const READS_PER_STATEMENT: usize = 200;

impl Batched for PreviousPoints {
    type Request = PreviousPointOf;
    type Answer = Vec<RecoveryPointDisk>;
    const MAX_BATCH: usize = READS_PER_STATEMENT;

    async fn execute(
        &self,
        db: &Db,
        requests: &[PreviousPointOf],
    ) -> Result<Vec<Vec<RecoveryPointDisk>>, EngineError> {
        // A row per request (vault, item, task), each looking up its newest point through
        // the index by (vault, item, time): one statement however many items.
        let sql = db.backend().bulk_statement(format!(
            "select requested.column3, (select point.disks from recovery_point point \
             where point.vault_id = requested.column1 and point.item_key = requested.column2 \
             and point.disks is not null \
             and (point.task_id is null or point.task_id <> requested.column3) \
             order by point.recovery_point_time desc limit 1) \
             from (values {}) as requested",
            value_rows(requests.len(), 3)
        ));
        let mut query = sqlx::query_as::<_, (String, Option<String>)>(&sql);
        for request in requests {
            query = query
                .bind(request.vault_id.clone())
                .bind(request.item_key.clone())
                .bind(request.task_id.clone());
        }
        let mut disks: HashMap<String, Option<String>> =
            query.fetch_all(db.pool()).await?.into_iter().collect();
        requests
            .iter()
            .map(|request| {
                RecoveryPointDisk::parse_list(disks.remove(&request.task_id).flatten().as_deref())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk of a point, told apart from the others by its vault snapshot.
    fn disk(marker: i64) -> RecoveryPointDisk {
        RecoveryPointDisk {
            lun: -1,
            container: "disks".to_owned(),
            blob: "osdisk.vhd".to_owned(),
            snapshot: Some(marker),
            vault_container: "vault".to_owned(),
            vault_blob: "item-os".to_owned(),
            vault_snapshot: marker,
            bytes_transferred: 0,
            account: None,
        }
    }

    /// A migrated SQLite database with vault `v` and points of items `a` and `b`: `a` at
    /// times 1 (task `a1`, disk 1) and 2 (`a2`, disk 2); `b` at 5 (`b1`, disk 5) and at 9
    /// without disks (a point whose data is gone).
    async fn database_with_points(dir: &std::path::Path) -> Db {
        let db = crate::store::with_subscription_for_tests(dir).await;
        for statement in [
            "insert into resource_group (subscription_id, name_key, name, location, tags, \
             created_at) values ('s', 'rg', 'rg', 'eastus', '{}', 0)",
            "insert into vault (vault_id, subscription_id, resource_group_key, name_key, name, \
             location, sku_name, tags, etag, created_at) \
             values ('v', 's', 'rg', 'v', 'v', 'eastus', 'Standard', '{}', 'e', 0)",
        ] {
            sqlx::query(statement).execute(db.pool()).await.unwrap();
        }
        for (item, time, task, marker) in [
            ("a", 1, "a1", Some(1)),
            ("a", 2, "a2", Some(2)),
            ("b", 5, "b1", Some(5)),
            ("b", 9, "b2", None),
        ] {
            let disks = marker.map(|m| serde_json::to_string(&[disk(m)]).unwrap());
            sqlx::query(
                "insert into recovery_point (vault_id, item_key, recovery_point_id, \
                 recovery_point_time, recovery_point_type, tier_details, properties, task_id, \
                 disks) values ('v', $1, $2, $3, 'AppConsistent', '[]', '{}', $4, $5)",
            )
            .bind(item)
            .bind(task)
            .bind(time)
            .bind(task)
            .bind(disks)
            .execute(db.pool())
            .await
            .unwrap();
        }
        db
    }

    fn previous_of(item: &str, task: &str) -> PreviousPointOf {
        PreviousPointOf {
            vault_id: "v".to_owned(),
            item_key: item.to_owned(),
            task_id: task.to_owned(),
        }
    }

    #[tokio::test]
    async fn each_transfer_read_together_gets_its_own_items_newest_point_but_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_points(dir.path()).await;
        let requests = [
            previous_of("a", "a3"),
            previous_of("b", "b3"),
            // A transfer run again after its point was recorded builds on the one before.
            previous_of("a", "a2"),
            previous_of("c", "c1"),
        ];
        let answers = PreviousPoints.execute(&db, &requests).await.unwrap();
        assert_eq!(
            answers,
            [vec![disk(2)], vec![disk(5)], vec![disk(1)], Vec::new()]
        );
    }
}
