//! `vaultsim-agent`: the inside of a VM. The guest agent and the VM snapshot extension
//! arrive with the agent issue; for now the binary only describes itself.

use clap::Parser;

/// The in-VM guest agent and VM snapshot extension of vaultsim.
///
/// It registers a VM with the vaultsim guest API, receives the VMSnapshot extension
/// settings, quiesces the guest, snapshots every disk through its SAS and reports status.
#[derive(Debug, Parser)]
#[command(name = "vaultsim-agent", version)]
struct Cli {}

fn main() {
    Cli::parse();
    eprintln!("vaultsim-agent: no command is implemented yet; see --help");
    std::process::exit(2);
}
