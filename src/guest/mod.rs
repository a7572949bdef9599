//! The guest API's domain, the simulator's wire server (Azure's 168.63.129.16:32526): an
//! agent registers its VM with a management token and the VM's certificate and gets a
//! per-VM credential; with it, the agent long-polls the VM's goal state (the extensions the
//! backup engine and ARM clients published, with their handler settings and state) and
//! reports each extension's status, and when it has uninstalled one. The HTTP layer is `api::guest`; nothing here knows of HTTP.

mod certificate;
mod credential;
mod delivered;
mod error;
mod goal_state;
mod heartbeat;
/// The wire server's presnapshot/dosnapshot: host time and host-side disk snapshots.
pub mod host_snapshot;
mod notifier;
mod redelivery;
mod registration;
mod sealed;

pub use certificate::{guest_certificate, GuestCertificate};
pub use credential::{authenticate, Credential};
pub use delivered::DeliveredGoalStates;
pub use error::GuestError;
pub use goal_state::{
    bump_incarnation, publish_extension, publish_extensions, report_status, report_uninstalled,
    wait_for_goal_state, ExtensionGoal, GoalState, HandlerState, StatusReport, DEFAULT_WAIT,
    MAX_WAIT,
};
pub use heartbeat::{report_heartbeat, HeartbeatReport};
pub use notifier::{watch_database, GoalStateNotifier};
pub use redelivery::redeliver_extension;
pub use registration::{register, Registered, Registration, RegistrationDisk};
pub use sealed::{open_for_agent, SettingsSeal, SEALED_PROTECTED_SETTINGS};
