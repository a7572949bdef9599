//! Sending an extension its current handler settings again under the next sequence number,
//! as Azure does when it resends a command the VM's agent did not act on: the same task,
//! a new sequence number. Extension developers use it (through `/_sim`) to check that their
//! extension drops a task it already ran, as the real VMSnapshot extension does.

use crate::resources::names::key;
use crate::store::Db;

/// Bumps the extension's sequence number and the VM's goal-state incarnation, keeping the
/// handler settings; answers the new sequence number, or `None` when the VM has no such
/// extension with settings. Call [`super::GoalStateNotifier::notify`] after.
pub async fn redeliver_extension(
    db: &Db,
    vm_id: &str,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let bumped: Option<i64> = sqlx::query_scalar(
        "update vm_extension set sequence_number = sequence_number + 1 \
         where vm_id = $1 and name_key = $2 and handler_settings is not null \
         returning sequence_number",
    )
    .bind(vm_id)
    .bind(key(name))
    .fetch_optional(&mut *tx)
    .await?;
    if bumped.is_some() {
        sqlx::query(
            "update virtual_machine set goal_state_incarnation = goal_state_incarnation + 1 \
             where vm_id = $1",
        )
        .bind(vm_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(bumped)
}
