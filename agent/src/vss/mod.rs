//! Quiesce modelled on VSS: a requester drives writers (pre/post scripts, simulated
//! application writers) and the filesystem freeze around the snapshot.

/// FIFREEZE/FITHAW on the eligible mounts through a separate watchdog process.
pub mod freeze;
