//! The guest's operating system. It decides which guest agent's layout the extension's
//! files follow (`handler`) and how the guest is quiesced (`vss::requester`): a Linux guest
//! runs the `/etc/azure` pre/post scripts and `fsfreeze`, a Windows guest only VSS.

use std::fmt;

/// Linux or Windows, as the VM's `osType` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GuestOs {
    #[default]
    Linux,
    Windows,
}

impl GuestOs {
    /// The VM's `osType` as ARM and the guest API spell it.
    pub fn os_type(self) -> &'static str {
        match self {
            GuestOs::Linux => "Linux",
            GuestOs::Windows => "Windows",
        }
    }
}

impl fmt::Display for GuestOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.os_type())
    }
}
