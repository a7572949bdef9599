//! `vaultsim-agent`: the inside of a VM. The guest agent that registers the VM and lays out
//! the extension's handler files, and the VMSnapshot extension that quiesces the guest,
//! snapshots every disk through its SAS and reports.

/// Quiesce modelled on VSS: script writers, simulated application writers, the filesystem
/// freeze.
pub mod vss;

/// The VMSnapshot extension: enable, the daemon's run, snapshots, status and log blobs.
pub mod extension;
/// Many simulated VMs in one process.
pub mod fleet;
/// The guest API client: registration, goal state, status reports.
pub mod guest;
/// The guest agent's on-disk layout for an extension, Linux's or Windows'.
pub mod handler;
/// `vaultsim-agent harness`: an extension through Azure Backup's scenarios, reported as a
/// summary and JUnit XML.
pub mod harness;
/// The VM's transport key pair and certificate.
pub mod keys;
/// Local-disk VMs: a disk image file mirrored to its page blob by hashed-block diffs, and the
/// loop device and mount behind it.
pub mod localdisk;
/// The management token a VM registers with.
pub mod management;
/// The guest's operating system: Linux or Windows.
pub mod os;
/// Third-party extension handler packages, hosted as the Linux guest agent hosts them.
pub mod package;
/// A child's process group, killed whole.
mod process_group;
/// The network and mount namespaces a hosted extension runs in, as if inside an Azure VM.
pub mod sandbox;
/// A vault and the VMs it protects, over the management API.
pub mod vault;
/// The guest agent of one VM.
pub mod vm;
/// A simulated VM's writes to its disks.
pub mod workload;
