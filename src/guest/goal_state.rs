//! A VM's goal state: its incarnation, which grows with every change the agent must act
//! on, and the extensions the backup engine and ARM clients published, each with the
//! sequence number and handler settings the handler finds in `config/<seq>.settings` and
//! what to do with it (`enabled`, `uninstall`). The engine and ARM writes
//! (`resources::compute`) publish; the agent long-polls, reports each handler's status, and
//! says when it has uninstalled one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::notifier::GoalStateNotifier;
use super::GuestError;
use crate::resources::names::key;
use crate::store::{json_column, placeholders, to_micros, Backend, Db};

/// How long a goal-state poll waits for a change when the agent does not say.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(25);
/// The longest a goal-state poll waits: below common idle timeouts of proxies and clients.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the backup engine wants an extension on a VM to do next.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionGoal {
    /// The extension's name on the VM, e.g. `VMSnapshotLinux`.
    pub name: String,
    pub publisher: String,
    pub extension_type: String,
    pub type_handler_version: String,
    /// What ARM shows as the extension's `settings`.
    pub public_settings: Value,
    /// The `handlerSettings` of `config/<seq>.settings` (public and protected settings).
    pub handler_settings: Value,
}

/// Installs the extension on first use (`provisioning_state` "Creating", sequence number 0,
/// listed by ARM from then on) or gives it new settings (`Updating`, the next sequence
/// number), and bumps the VM's goal-state incarnation. Two statements, meant for the
/// engine's transaction; call [`GoalStateNotifier::notify`] after the commit. Returns the
/// extension's sequence number; 404 `VmNotFound` when no VM has `vm_id`.
pub async fn publish_extension(
    tx: &mut AnyConnection,
    vm_id: &str,
    goal: &ExtensionGoal,
    now: DateTime<Utc>,
) -> Result<i64, GuestError> {
    let published = publish_extensions(tx, &[(vm_id.to_owned(), goal.clone())], now).await?;
    Ok(published[0])
}

/// VMs published to per statement: 10 parameters each.
const GOALS_PER_STATEMENT: usize = 40;

/// [`publish_extension`] for many VMs (one goal each) in a few statements; answers the
/// sequence numbers in order.
pub async fn publish_extensions(
    tx: &mut AnyConnection,
    goals: &[(String, ExtensionGoal)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, GuestError> {
    let mut sequence_numbers = Vec::with_capacity(goals.len());
    let backend = Backend::of(tx);
    for chunk in goals.chunks(GOALS_PER_STATEMENT) {
        // The VM rows first: they prove the VMs exist and, on PostgreSQL, order concurrent
        // publishers to one VM before either touches the extension row.
        let bump = backend.bulk_statement(format!(
            "update virtual_machine set goal_state_incarnation = goal_state_incarnation + 1 \
             where vm_id in ({})",
            placeholders(1, chunk.len())
        ));
        let mut query = sqlx::query(&bump);
        for (vm_id, _) in chunk {
            query = query.bind(vm_id.clone());
        }
        let bumped = query.execute(&mut *tx).await?;
        if bumped.rows_affected() != chunk.len() as u64 {
            let missing = missing_vm(tx, chunk).await?;
            return Err(GuestError::vm_not_found(&missing));
        }
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let p = |c: usize| format!("${}", r * 9 + c);
                format!(
                    "({}, {}, {}, {}, {}, {}, 1, 'Creating', {}, {}, 0, {})",
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(6),
                    p(7),
                    p(8),
                    p(9)
                )
            })
            .collect();
        let sql = backend.bulk_statement(format!(
            "insert into vm_extension (vm_id, name_key, name, publisher, extension_type, \
             type_handler_version, auto_upgrade_minor_version, provisioning_state, settings, \
             updated_at, sequence_number, handler_settings) values {} \
             on conflict (vm_id, name_key) do update set name = excluded.name, \
             publisher = excluded.publisher, extension_type = excluded.extension_type, \
             type_handler_version = excluded.type_handler_version, provisioning_state = 'Updating', \
             settings = excluded.settings, updated_at = excluded.updated_at, \
             sequence_number = vm_extension.sequence_number + 1, \
             handler_settings = excluded.handler_settings, handler_state = 'enabled' \
             returning vm_id, sequence_number",
            rows.join(", ")
        ));
        let mut query = sqlx::query(&sql);
        for (vm_id, goal) in chunk {
            query = query
                .bind(vm_id.clone())
                .bind(key(&goal.name))
                .bind(goal.name.clone())
                .bind(goal.publisher.clone())
                .bind(goal.extension_type.clone())
                .bind(goal.type_handler_version.clone())
                .bind(goal.public_settings.to_string())
                .bind(to_micros(now))
                .bind(goal.handler_settings.to_string());
        }
        let returned = query.fetch_all(&mut *tx).await?;
        let mut by_vm = std::collections::HashMap::with_capacity(returned.len());
        for row in &returned {
            by_vm.insert(
                row.try_get::<String, _>("vm_id")?,
                row.try_get::<i64, _>("sequence_number")?,
            );
        }
        for (vm_id, _) in chunk {
            sequence_numbers.push(by_vm[vm_id]);
        }
    }
    Ok(sequence_numbers)
}

/// Bumps the VM's goal-state incarnation, for a change its agent must act on; meant for the
/// caller's transaction (call [`GoalStateNotifier::notify`] after the commit). 404
/// `VmNotFound` when no VM has `vm_id`.
pub async fn bump_incarnation(tx: &mut AnyConnection, vm_id: &str) -> Result<(), GuestError> {
    let bumped = sqlx::query(
        "update virtual_machine set goal_state_incarnation = goal_state_incarnation + 1 \
         where vm_id = $1",
    )
    .bind(vm_id)
    .execute(tx)
    .await?;
    if bumped.rows_affected() == 0 {
        return Err(GuestError::vm_not_found(vm_id));
    }
    Ok(())
}

/// The first VM of `chunk` that does not exist.
async fn missing_vm(
    tx: &mut AnyConnection,
    chunk: &[(String, ExtensionGoal)],
) -> Result<String, GuestError> {
    for (vm_id, _) in chunk {
        let exists = sqlx::query("select 1 from virtual_machine where vm_id = $1")
            .bind(vm_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(vm_id.clone());
        }
    }
    Ok(chunk[0].0.clone())
}

/// A VM's goal state as its agent reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalState {
    pub vm_id: String,
    pub incarnation: i64,
    /// The extensions that have handler settings, by name.
    pub extensions: Vec<HandlerState>,
}

/// One extension the agent must run, with the settings of its current sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerState {
    pub name: String,
    /// `enabled`, or `uninstall` while the extension is being deleted.
    pub state: String,
    pub publisher: String,
    pub extension_type: String,
    pub type_handler_version: String,
    pub sequence_number: i64,
    pub handler_settings: Value,
}

/// The VM's goal state once its incarnation differs from `known` (the one the agent
/// holds), or when `wait` (at most [`MAX_WAIT`]) is over or the service stops, whichever
/// comes first; at once without `known`.
pub async fn wait_for_goal_state(
    db: &Db,
    notifier: &GoalStateNotifier,
    vm_id: &str,
    known: Option<i64>,
    wait: Duration,
) -> Result<GoalState, GuestError> {
    let Some(known) = known else {
        return read_goal_state(db, vm_id).await;
    };
    let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
    loop {
        // Registered before the read, so a change committed after the read still wakes us.
        let watch = notifier.watch(vm_id, known);
        let changed = watch.changed();
        let state = read_goal_state(db, vm_id).await?;
        if state.incarnation != known {
            return Ok(state);
        }
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(deadline) => return Ok(state),
            () = notifier.stopped() => return Ok(state),
        }
    }
}

async fn read_goal_state(db: &Db, vm_id: &str) -> Result<GoalState, GuestError> {
    let rows = sqlx::query(
        "select vm.goal_state_incarnation, e.name, e.handler_state, e.publisher, \
         e.extension_type, e.type_handler_version, e.sequence_number, e.handler_settings \
         from virtual_machine vm left join vm_extension e \
         on e.vm_id = vm.vm_id and e.handler_settings is not null \
         where vm.vm_id = $1 order by e.name_key",
    )
    .bind(vm_id)
    .fetch_all(db.pool())
    .await?;
    let first = rows
        .first()
        .ok_or_else(|| GuestError::vm_not_found(vm_id))?;
    let mut extensions = Vec::new();
    for row in &rows {
        let Some(name) = row.try_get::<Option<String>, _>("name")? else {
            continue;
        };
        extensions.push(HandlerState {
            name,
            state: row.try_get("handler_state")?,
            publisher: row.try_get("publisher")?,
            extension_type: row.try_get("extension_type")?,
            type_handler_version: row.try_get("type_handler_version")?,
            sequence_number: row.try_get("sequence_number")?,
            handler_settings: json_column(row, "handler_settings")?,
        });
    }
    Ok(GoalState {
        vm_id: vm_id.to_owned(),
        incarnation: first.try_get("goal_state_incarnation")?,
        extensions,
    })
}

/// What a handler wrote to `status/<seq>.status`, checked: a non-empty list whose first
/// entry has `status.status`, one of the states the Linux agent accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    document: Value,
    /// The extension's provisioning state from now on; `None` while transitioning.
    provisioning_state: Option<&'static str>,
}

impl StatusReport {
    /// 400 `InvalidStatus` when `document` is not a handler status file.
    pub fn parse(document: Value) -> Result<Self, GuestError> {
        let status = document
            .as_array()
            .and_then(|entries| entries.first())
            .and_then(|entry| entry["status"]["status"].as_str())
            .ok_or_else(|| {
                GuestError::invalid(
                    "InvalidStatus",
                    "The body must be a handler status file: \
                     [{\"version\",\"timestampUTC\",\"status\":{\"status\",\"code\",...}}].",
                )
            })?;
        let provisioning_state = match status {
            "transitioning" => None,
            "success" | "warning" => Some("Succeeded"),
            "error" => Some("Failed"),
            other => {
                return Err(GuestError::invalid(
                    "InvalidStatus",
                    format!(
                        "status.status is '{other}'; it must be transitioning, success, \
                         warning or error."
                    ),
                ))
            }
        };
        Ok(Self {
            document,
            provisioning_state,
        })
    }
}

/// Records the status the VM's agent reported for extension `name` and the provisioning
/// state it implies: `Failed` is `Succeeded` for an extension put with `suppressFailures`,
/// and an extension being deleted stays `Deleting`. 404 `ExtensionNotFound` when the VM
/// has no such extension.
pub async fn report_status(
    db: &Db,
    vm_id: &str,
    name: &str,
    report: &StatusReport,
    now: DateTime<Utc>,
) -> Result<(), GuestError> {
    let updated = sqlx::query(
        "update vm_extension set handler_status = $3, \
         provisioning_state = case \
             when handler_state = 'uninstall' then provisioning_state \
             when $4 = 'Failed' and suppress_failures = 1 then 'Succeeded' \
             else coalesce($4, provisioning_state) end, \
         updated_at = $5 where vm_id = $1 and name_key = $2",
    )
    .bind(vm_id)
    .bind(key(name))
    .bind(report.document.to_string())
    .bind(report.provisioning_state)
    .bind(to_micros(now))
    .execute(db.writer())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(extension_not_found(name));
    }
    Ok(())
}

pub(super) fn extension_not_found(name: &str) -> GuestError {
    GuestError::NotFound {
        code: "ExtensionNotFound",
        message: format!("The virtual machine has no extension named '{name}'."),
    }
}

/// The VM's agent has uninstalled the handler of extension `name`, which the goal state
/// said to uninstall: the extension goes, and its deletion completes. 404
/// `ExtensionNotFound`; 409 `ExtensionNotUninstalling` when the goal state says `enabled`.
pub async fn report_uninstalled(
    db: &Db,
    vm_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), GuestError> {
    let mut tx = db.begin_write().await?;
    if crate::resources::compute::remove_uninstalled_extension(&mut tx, vm_id, name, now).await? {
        tx.commit().await?;
        return Ok(());
    }
    let exists = sqlx::query("select 1 from vm_extension where vm_id = $1 and name_key = $2")
        .bind(vm_id)
        .bind(key(name))
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if exists {
        Err(crate::resources::ResourceError::conflict(
            "ExtensionNotUninstalling",
            format!("The goal state does not say to uninstall the extension '{name}'."),
        )
        .into())
    } else {
        Err(extension_not_found(name))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Clock;
    use crate::resources::compute::{create_vm, Disk, NewVm, Origin, DEFAULT_VM_SIZE};
    use crate::resources::groups::{put_group, PutGroup};
    use crate::resources::lookup::OsType;

    const VM_ID: &str = "6b0e5c6e-43a4-4a5e-9d0c-7c1f3a1f2b10";

    /// A migrated SQLite database holding one VM, `VM_ID`.
    async fn database_with_a_vm(dir: &std::path::Path) -> Db {
        let db = crate::store::with_subscription_for_tests(dir).await;
        let group = PutGroup {
            subscription: "s".to_owned(),
            name: "rg".to_owned(),
            location: Some("westeurope".to_owned()),
            tags: Default::default(),
        };
        put_group(&db, &Clock::default(), group).await.unwrap();
        let (_, blobs) = crate::storage::open_for_tests(&dir.join("blob"), Clock::default());
        let blobs = crate::storage::StorageAccounts::single(std::sync::Arc::new(blobs));
        let vm = NewVm {
            vm_id: VM_ID.to_owned(),
            subscription: "s".to_owned(),
            group: "rg".to_owned(),
            name: "vm".to_owned(),
            location: "westeurope".to_owned(),
            os_type: OsType::Linux,
            vm_size: DEFAULT_VM_SIZE.to_owned(),
            os_disk: Disk::os("os", 1),
            data_disks: Vec::new(),
            os_profile: None,
            origin: Origin::Guest,
            tags: Default::default(),
            image: None,
            network_interfaces: Vec::new(),
        };
        create_vm(&db, &blobs, &Clock::default(), vm).await.unwrap();
        db
    }

    fn goal(task: &str) -> ExtensionGoal {
        ExtensionGoal {
            name: "VMSnapshotLinux".to_owned(),
            publisher: "Microsoft.Azure.RecoveryServices".to_owned(),
            extension_type: "VMSnapshotLinux".to_owned(),
            type_handler_version: "1.0".to_owned(),
            public_settings: json!({ "taskId": task }),
            handler_settings: json!({ "publicSettings": { "taskId": task } }),
        }
    }

    async fn publish(db: &Db, vm_id: &str, task: &str) -> Result<i64, GuestError> {
        let mut tx = db.begin_write().await.unwrap();
        let published = publish_extension(&mut tx, vm_id, &goal(task), Utc::now()).await;
        tx.commit().await.unwrap();
        published
    }

    /// Without the database watcher: only the notification can end the wait early.
    #[tokio::test]
    async fn a_notified_publish_ends_the_wait_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_a_vm(dir.path()).await;
        let notifier = GoalStateNotifier::default();
        let waiting = tokio::spawn({
            let (db, notifier) = (db.clone(), notifier.clone());
            async move {
                wait_for_goal_state(&db, &notifier, VM_ID, Some(0), Duration::from_secs(30)).await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(publish(&db, VM_ID, "job_1").await.unwrap(), 0);
        notifier.notify(VM_ID);
        let state = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by the notification")
            .unwrap()
            .unwrap();
        assert_eq!(state.incarnation, 1);
        assert_eq!(state.extensions[0].sequence_number, 0);
        assert_eq!(
            state.extensions[0].handler_settings,
            goal("job_1").handler_settings
        );

        assert_eq!(publish(&db, VM_ID, "job_2").await.unwrap(), 1);
        let state = wait_for_goal_state(&db, &notifier, VM_ID, None, DEFAULT_WAIT)
            .await
            .unwrap();
        assert_eq!(state.incarnation, 2);
        assert_eq!(
            state.extensions[0].handler_settings,
            goal("job_2").handler_settings
        );
    }

    #[tokio::test]
    async fn publishing_to_a_vm_that_does_not_exist_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_a_vm(dir.path()).await;
        let missing = "0c7d1c2a-90b1-4f43-8d8e-4f0f6f1f0e01";
        assert!(matches!(
            publish(&db, missing, "job_1").await,
            Err(GuestError::NotFound {
                code: "VmNotFound",
                ..
            })
        ));
        let extensions: i64 = sqlx::query_scalar("select count(*) from vm_extension")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(extensions, 0);
    }

    fn report(status: &str) -> Value {
        json!([{ "version": "1.0", "timestampUTC": "2026-11-26T00:00:00Z",
                 "status": { "status": status, "code": "1" } }])
    }

    #[test]
    fn a_status_sets_the_provisioning_state_it_implies() {
        for (status, state) in [
            ("transitioning", None),
            ("success", Some("Succeeded")),
            ("warning", Some("Succeeded")),
            ("error", Some("Failed")),
        ] {
            let parsed = StatusReport::parse(report(status)).unwrap();
            assert_eq!(parsed.provisioning_state, state, "{status}");
        }
    }

    #[test]
    fn what_is_not_a_status_file_is_refused() {
        for document in [
            json!({}),
            json!([]),
            json!([{ "status": {} }]),
            report("done"),
        ] {
            assert!(
                matches!(
                    StatusReport::parse(document.clone()),
                    Err(GuestError::Invalid {
                        code: "InvalidStatus",
                        ..
                    })
                ),
                "{document}"
            );
        }
    }
}
