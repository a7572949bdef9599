//! Where to look: the service's addresses and files as a client on this machine reaches
//! them, and the banner that tells the user (with a ready `az` sequence).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vaultsim_protocol::credentials;

use super::estate::{GROUP, INTERVAL_HOURS, POLICY, VAULT, VM_PREFIX};
use super::jobs;
use crate::config::{DemoConfig, ServeConfig};
use crate::startup::Application;

/// Where the service listens, and its files, as clients reach them.
pub struct Endpoints {
    pub management: SocketAddr,
    pub management_https: Option<SocketAddr>,
    pub guest: SocketAddr,
    pub blob: SocketAddr,
    pub ca_file: Option<PathBuf>,
    pub data_dir: PathBuf,
}

impl Endpoints {
    pub fn of(app: &Application, serve: &ServeConfig) -> Endpoints {
        Endpoints {
            management: reachable(app.http_addr()),
            management_https: app.https_addr().map(reachable),
            guest: reachable(app.guest_addr()),
            blob: reachable(app.blob_addr()),
            ca_file: app.tls_ca_file().map(Path::to_owned),
            data_dir: serve.database.data_dir.clone(),
        }
    }

    pub fn management_url(&self) -> String {
        format!("http://{}", self.management)
    }

    pub fn credentials_file(&self) -> PathBuf {
        self.data_dir.join(credentials::FILE_NAME)
    }
}

/// A bound address as a client on this machine reaches it (loopback for "any").
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// What the demo runs and where to look, printed once everything is protected. It names
/// the credentials file, never the secret in it.
pub fn banner(config: &DemoConfig, endpoints: &Endpoints) -> String {
    let day = Duration::from_secs_f64(86_400.0 / config.speed);
    let credentials = endpoints.credentials_file();
    let mut text = format!(
        "\nvaultsim demo: {vms} simulated VMs ({VM_PREFIX}-0...) in resource group {GROUP}, \
         backed up every {INTERVAL_HOURS} hours by policy {POLICY} of vault {VAULT}.\n\
         Simulated time runs {speed}x real time (a day every {day}), slower while snapshots \
         are taken.\n\n\
         \x20 dashboard    http://{management}/\n",
        vms = config.vms,
        speed = config.speed,
        day = jobs::short(day),
        management = endpoints.management,
    );
    if let Some(https) = endpoints.management_https {
        text.push_str(&format!("  management   https://{https}/\n"));
    }
    text.push_str(&format!(
        "  credentials  {}\n  data         {} (wiped at the next demo start)\n\n",
        credentials.display(),
        endpoints.data_dir.display(),
    ));
    match (endpoints.management_https, &endpoints.ca_file) {
        (Some(https), Some(ca_file)) => text.push_str(&format!(
            "Watch it with az (azure-cli 2.6x or later) from another terminal:\n\
             \x20 export AZURE_CONFIG_DIR='{config_dir}' REQUESTS_CA_BUNDLE='{ca}'\n\
             \x20 creds='{creds}'; field() {{ python3 -c \"import json;print(json.load(open('$creds'))['$1'])\"; }}\n\
             \x20 az cloud register -n vaultsim-demo --endpoint-resource-manager https://{https}/\n\
             \x20 az cloud set -n vaultsim-demo\n\
             \x20 az login --service-principal -u $(field clientId) -p $(field clientSecret) --tenant $(field tenantId)\n\
             \x20 az backup job list -g {GROUP} -v {VAULT} -o table\n\n",
            config_dir = endpoints.data_dir.join("az-config").display(),
            ca = ca_file.display(),
            creds = credentials.display(),
        )),
        _ => text.push_str(
            "az needs the management API over HTTPS with the service's own CA: leave \
             --https-addr on and give no --tls-cert.\n\n",
        ),
    }
    text.push_str("Jobs as they finish (simulated time); Ctrl-C stops the demo:\n");
    text
}
