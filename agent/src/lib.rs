//! `vaultsim-agent`: the inside of a VM. The guest agent that registers the VM and lays out
//! the extension's handler files, and the VMSnapshot extension that quiesces the guest,
//! snapshots every disk through its SAS and reports.

/// Quiesce modelled on VSS: script writers, simulated application writers, the filesystem
/// freeze.
pub mod vss;

/// Local-disk VMs: a disk image file mirrored to its page blob by hashed-block diffs, and the
/// loop device and mount behind it.
pub mod localdisk;
