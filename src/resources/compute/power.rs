//! Powering a VM on and off (`VirtualMachines_Start`, `_PowerOff`, `_Deallocate`,
//! `_Restart`). Each is one change of the VM's stored power state, recorded as a Compute
//! operation that has already succeeded: nothing is booted or shut down here. What the
//! state changes is what the rest of the service does with the VM: its instance view, and
//! its backups, which a VM that is not running gets host-side (see `control::backup`).

use super::store::{self, OperationRow, Settled};
use super::OperationKind;
use crate::clock::Clock;
use crate::resources::lookup::{self, PowerState};
use crate::resources::protection::operations::OperationStatus;
use crate::resources::ResourceError;
use crate::store::Db;

/// What a client asked of the VM's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    /// `az vm stop`: powered off, still allocated.
    PowerOff,
    Deallocate,
    Restart,
}

impl PowerAction {
    /// The state the VM ends in, from `current`; an error for what Azure refuses.
    fn target(self, current: PowerState, vm: &str) -> Result<PowerState, ResourceError> {
        match (self, current) {
            (Self::Start, _) | (Self::Restart, PowerState::Running) => Ok(PowerState::Running),
            (Self::Restart, _) => Err(ResourceError::conflict(
                "OperationNotAllowed",
                format!(
                    "The operation requires the VM to be running (or set to run). The virtual \
                     machine '{vm}' is {}: start it instead.",
                    current.as_str()
                ),
            )),
            // Powering off a deallocated VM leaves it deallocated, as Azure does.
            (Self::PowerOff, PowerState::Deallocated) => Ok(PowerState::Deallocated),
            (Self::PowerOff, _) => Ok(PowerState::Stopped),
            (Self::Deallocate, _) => Ok(PowerState::Deallocated),
        }
    }
}

/// A power change done: the operation a client polls, and where (the VM's location).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerChanged {
    pub operation_id: String,
    pub location: String,
}

/// Applies `action` to the VM, under its row lock. 404 for a missing group or VM; 409
/// `OperationNotAllowed` for a restart of a VM that is not running.
pub async fn change_power(
    db: &Db,
    clock: &Clock,
    subscription: &str,
    group: &str,
    name: &str,
    action: PowerAction,
) -> Result<PowerChanged, ResourceError> {
    let mut tx = db.begin_write().await?;
    if !store::lock_vm(&mut tx, subscription, group, name).await? {
        drop(tx);
        // Answers the 404 ARM gives: for the group, else for the VM.
        lookup::vm(db, subscription, group, name).await?;
        return Err(ResourceError::resource_not_found(
            "Microsoft.Compute/virtualMachines",
            name,
            group,
        ));
    }
    let (vm_id, location, current) = store::power_of(&mut tx, subscription, group, name)
        .await?
        .expect("the VM row is locked");
    let power_state = action.target(current, name)?;
    store::set_power_state(&mut tx, &vm_id, power_state).await?;
    let now = clock.now();
    let operation_id = uuid::Uuid::new_v4().to_string();
    store::insert_operation(
        &mut tx,
        &OperationRow {
            operation_id: operation_id.clone(),
            subscription_id: subscription.to_owned(),
            vm_id,
            name: String::new(),
            kind: OperationKind::Power,
            sequence_number: 0,
            started_at: now,
            settled: Some(Settled {
                status: OperationStatus::Succeeded,
                error: None,
                ended_at: now,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(PowerChanged {
        operation_id,
        location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_ends_in_the_state_azure_leaves() {
        use PowerAction::*;
        use PowerState::*;
        let cases = [
            (Start, Running, Running),
            (Start, Stopped, Running),
            (Start, Deallocated, Running),
            (PowerOff, Running, Stopped),
            (PowerOff, Stopped, Stopped),
            (PowerOff, Deallocated, Deallocated),
            (Deallocate, Running, Deallocated),
            (Deallocate, Stopped, Deallocated),
            (Deallocate, Deallocated, Deallocated),
            (Restart, Running, Running),
        ];
        for (action, from, to) in cases {
            assert_eq!(
                action.target(from, "vm").unwrap(),
                to,
                "{action:?} from {from:?}"
            );
        }
    }

    #[test]
    fn a_restart_needs_a_running_vm() {
        for from in [PowerState::Stopped, PowerState::Deallocated] {
            let error = PowerAction::Restart.target(from, "vm1").unwrap_err();
            let ResourceError::Conflict { code, message } = error else {
                panic!("a restart of a {from:?} VM: {error:?}");
            };
            assert_eq!(code, "OperationNotAllowed");
            assert!(message.contains(from.as_str()), "{message}");
        }
    }
}
