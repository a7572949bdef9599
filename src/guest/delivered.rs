//! The goal state this process last answered each VM's agent with. A poll that a `drop`
//! fault holds back is answered with it, so the agent sees no change; nothing else needs
//! it.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::GoalState;

#[derive(Debug, Default)]
pub struct DeliveredGoalStates(Mutex<HashMap<String, GoalState>>);

impl DeliveredGoalStates {
    pub fn record(&self, state: &GoalState) {
        self.0.lock().insert(state.vm_id.clone(), state.clone());
    }

    /// The goal state `vm_id`'s agent was last given, if it had `incarnation`.
    pub fn at(&self, vm_id: &str, incarnation: i64) -> Option<GoalState> {
        self.0
            .lock()
            .get(vm_id)
            .filter(|state| state.incarnation == incarnation)
            .cloned()
    }
}
