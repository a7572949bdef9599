//! The rendered bodies of settled jobs, kept so that a job list page renders only what
//! changed. Reading every column of 200 jobs and rendering them was nearly all of a page's
//! cost; a page now reads each job's id and revision, and only the jobs without a current
//! rendering whole. A rendering is reused only for the revision of the row it was made from,
//! so an update made by any replica is seen at once; a running job is rendered each time
//! (its duration grows).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use hashlink::LruCache;
use serde_json::value::RawValue;

use super::jobs::job_body;
use crate::resources::jobs::{self, JobHead};
use crate::resources::ResourceError;
use crate::store::Db;

/// Renderings kept: 80 pages of 200 (about 1 KiB each, some 16 MiB in all). Lists are read
/// from their first page, so the newest jobs stay.
const KEPT: usize = 16_384;

/// Settled jobs' bodies (`JobResource` JSON) by job id, least recently used dropped first.
pub struct JobBodies {
    kept: Mutex<LruCache<String, Rendered>>,
}

struct Rendered {
    revision: i64,
    body: Arc<RawValue>,
}

impl Default for JobBodies {
    fn default() -> Self {
        Self::with_capacity(KEPT)
    }
}

impl JobBodies {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            kept: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The bodies of `heads`' jobs, in order, each rendered in the vault `vault_arm_id` at
    /// `now` unless a rendering of its revision is kept. A job gone since its head was
    /// read is left out.
    pub async fn page(
        &self,
        db: &Db,
        vault_arm_id: &str,
        heads: &[JobHead],
        now: DateTime<Utc>,
    ) -> Result<Vec<Arc<RawValue>>, ResourceError> {
        let mut bodies: Vec<Option<Arc<RawValue>>> = {
            let mut kept = self.kept.lock().expect("job bodies lock");
            heads
                .iter()
                .map(|head| {
                    kept.get(&head.job_id)
                        .filter(|rendered| rendered.revision == head.revision)
                        .map(|rendered| rendered.body.clone())
                })
                .collect()
        };
        let missing: Vec<&str> = heads
            .iter()
            .zip(&bodies)
            .filter(|(_, body)| body.is_none())
            .map(|(head, _)| head.job_id.as_str())
            .collect();
        if !missing.is_empty() {
            let mut conn = db.pool().acquire().await?;
            let read = jobs::get_many_in(&mut conn, &missing).await?;
            drop(conn);
            let mut kept = self.kept.lock().expect("job bodies lock");
            for (head, body) in heads.iter().zip(bodies.iter_mut()) {
                let Some(job) = read.get(&head.job_id).filter(|_| body.is_none()) else {
                    continue;
                };
                let rendered: Arc<RawValue> =
                    serde_json::value::to_raw_value(&job_body(vault_arm_id, job, now))
                        .expect("wire types serialize")
                        .into();
                if job.is_settled() {
                    kept.insert(
                        job.job_id.clone(),
                        Rendered {
                            revision: job.revision,
                            body: rendered.clone(),
                        },
                    );
                }
                *body = Some(rendered);
            }
        }
        Ok(bodies.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::resources::jobs::{JobExtendedInfo, JobOperation, JobQuery, JobStatus, NewJob};

    const VAULT: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v";

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 0).unwrap()
    }

    /// A database holding one job of vault `v`, created with `status` (ended an hour after
    /// it started when that status is terminal).
    async fn database_with_a_job(dir: &std::path::Path, status: JobStatus) -> (Db, String) {
        let db = Db::connect(None, dir).await.unwrap();
        db.migrate().await.unwrap();
        let mut conn = db.writer().acquire().await.unwrap();
        // The job alone: no subscription, group or vault rows for it to reference.
        sqlx::query("pragma foreign_keys = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        let job = NewJob {
            vault_id: "v".into(),
            item_key: None,
            entity_friendly_name: "vm1".into(),
            container_name: "iaasvmcontainerv2;g;vm1".into(),
            operation: JobOperation::Backup,
            status,
            start_time: start(),
            end_time: status.is_terminal().then(|| start() + Duration::hours(1)),
            is_user_triggered: false,
            extended_info: JobExtendedInfo::default(),
        };
        let job_id = jobs::create_job(&mut conn, job).await.unwrap();
        (db, job_id)
    }

    async fn first_page(bodies: &JobBodies, db: &Db, now: DateTime<Utc>) -> Arc<RawValue> {
        let page = jobs::list(db, "v", &JobQuery::default(), 200)
            .await
            .unwrap();
        let mut shown = bodies.page(db, VAULT, &page.jobs, now).await.unwrap();
        assert_eq!(shown.len(), 1);
        shown.pop().unwrap()
    }

    fn property_bag(body: &RawValue) -> serde_json::Value {
        let body: serde_json::Value = serde_json::from_str(body.get()).unwrap();
        body["properties"]["extendedInfo"]["propertyBag"].clone()
    }

    #[tokio::test]
    async fn a_settled_job_is_rendered_once_until_its_row_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (db, job_id) = database_with_a_job(dir.path(), JobStatus::Completed).await;
        let bodies = JobBodies::default();
        let first = first_page(&bodies, &db, start() + Duration::hours(2)).await;
        let again = first_page(&bodies, &db, start() + Duration::hours(3)).await;
        assert!(Arc::ptr_eq(&first, &again), "kept, not rendered again");

        let changed = JobExtendedInfo {
            property_bag: BTreeMap::from([("VM Name".to_owned(), "vm1".to_owned())]),
            ..JobExtendedInfo::default()
        };
        let mut conn = db.writer().acquire().await.unwrap();
        let update = jobs::JobUpdate {
            status: None,
            extended_info: Some(changed),
        };
        jobs::update(&mut conn, &job_id, update).await.unwrap();
        drop(conn);
        let after = first_page(&bodies, &db, start() + Duration::hours(3)).await;
        assert_eq!(property_bag(&first), serde_json::json!({}));
        assert_eq!(
            property_bag(&after),
            serde_json::json!({ "VM Name": "vm1" })
        );
    }

    #[tokio::test]
    async fn a_running_job_is_rendered_at_each_read() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = database_with_a_job(dir.path(), JobStatus::InProgress).await;
        let bodies = JobBodies::default();
        let duration = |body: &RawValue| {
            let body: serde_json::Value = serde_json::from_str(body.get()).unwrap();
            body["properties"]["duration"].as_str().unwrap().to_owned()
        };
        let early = first_page(&bodies, &db, start() + Duration::minutes(1)).await;
        let later = first_page(&bodies, &db, start() + Duration::minutes(2)).await;
        assert_eq!(duration(&early), "PT1M");
        assert_eq!(duration(&later), "PT2M");
    }
}
