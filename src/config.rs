//! Command line and environment: every flag is also a `VAULTSIM_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use vaultsim_protocol::extension::host_snapshot::SnapshotMethod;

use crate::storage::Placement;
use crate::telemetry::LogFormat;

/// Azurite's well-known development account key, so `UseDevelopmentStorage=true` clients
/// work unchanged.
pub const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[derive(Debug, Parser)]
#[command(
    name = "vaultsim",
    version,
    about = "A local, faithful simulator of Azure Backup for virtual machines"
)]
pub struct Cli {
    /// How log lines are written to stderr: `text`, or `json` (one object a line).
    #[arg(
        long,
        global = true,
        env = "VAULTSIM_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: the management API and the Azure-Blob-compatible endpoint.
    Serve(Box<ServeConfig>),
    /// A first run that shows backups happening: the service, a few simulated VMs whose
    /// agents run the snapshot extension, protected by a policy, on a clock faster than
    /// real time. Prints where to look; Ctrl-C stops it.
    Demo(Box<DemoConfig>),
    /// Apply the database migrations and exit (`serve` applies them too).
    Migrate(DatabaseConfig),
    /// Print the management API's OpenAPI document (what `/openapi.json` serves).
    Openapi,
}

/// Where the metadata lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Where metadata and blob data live.
    #[arg(long, env = "VAULTSIM_DATA_DIR", default_value = "./vaultsim-data")]
    pub data_dir: PathBuf,
    /// Metadata database: `postgres://...` to share one between replicas; by default a
    /// SQLite file `vaultsim.db` in the data directory.
    #[arg(long, env = "VAULTSIM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// A part of the service a process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Component {
    /// The management API (ARM routes, token issuer, `/_sim`).
    Api,
    /// The guest API agents register with and take their goal states from.
    Guest,
    /// The backup engine: scheduling, status collection, transfers, retention, restores.
    Engine,
    /// The Azure-Blob-compatible endpoint over the embedded blob store.
    Blob,
}

/// Every component: what one `vaultsim serve` runs by default.
pub const ALL_COMPONENTS: [Component; 4] = [
    Component::Api,
    Component::Guest,
    Component::Engine,
    Component::Blob,
];

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// What this process runs (comma-separated): `api`, `guest`, `engine`, `blob`. Blob
    /// nodes (`blob`) and control replicas (`api,guest,engine` with
    /// `--storage-connection-string`) on one PostgreSQL make a service of many processes.
    #[arg(
        long,
        env = "VAULTSIM_COMPONENTS",
        value_delimiter = ',',
        default_value = "api,guest,engine,blob"
    )]
    pub components: Vec<Component>,
    /// Keep every blob (VM disks, status and log blobs, vault copies) in this Azure Storage
    /// account instead of the embedded store: a vaultsim blob node, Azurite or Azure
    /// Storage (`DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;BlobEndpoint=...`).
    /// Repeat it to spread VM disks over several accounts (`--storage-placement`); the
    /// first holds vault copies and the tasks' status and log blobs.
    #[arg(
        long,
        env = "VAULTSIM_STORAGE_CONNECTION_STRING",
        hide_env_values = true
    )]
    pub storage_connection_string: Vec<SecretString>,
    /// How new VMs' disks are spread over several storage accounts: all of a resource
    /// group's in one (`by-resource-group`), or each VM in the next (`round-robin`).
    #[arg(
        long,
        env = "VAULTSIM_STORAGE_PLACEMENT",
        default_value = "by-resource-group"
    )]
    pub storage_placement: Placement,
    /// Address of the management API (ARM routes and the token issuer).
    #[arg(long, env = "VAULTSIM_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Address of the management API over HTTPS, which `az` and the Azure SDKs need
    /// (`off` serves no HTTPS).
    #[arg(long, env = "VAULTSIM_HTTPS_ADDR", default_value = "127.0.0.1:8443", value_parser = parse_listen_addr)]
    pub https_addr: ListenAddr,
    /// The management API's base URL as clients reach it (e.g. `https://vaultsim:8443`),
    /// written into every URL it hands out. Default: from how each request reached it
    /// (the listener's scheme and the `Host` header, or a proxy's `Forwarded` /
    /// `X-Forwarded-Proto` / `X-Forwarded-Host`).
    #[arg(long, env = "VAULTSIM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Accept management requests without a token, as the bootstrap admin (local demos).
    #[arg(long, env = "VAULTSIM_NO_AUTH")]
    pub no_auth: bool,
    /// Address of the blob endpoint (port 0 picks a free port; the bound address is logged).
    #[arg(long, env = "VAULTSIM_BLOB_ADDR", default_value = "127.0.0.1:10000")]
    pub blob_addr: SocketAddr,
    /// Address of the blob endpoint over HTTPS (`:443` for the real snapshot extension,
    /// which speaks only HTTPS to port 443; `off` serves no HTTPS).
    #[arg(long, env = "VAULTSIM_BLOB_HTTPS_ADDR", default_value = "127.0.0.1:10443", value_parser = parse_listen_addr)]
    pub blob_https_addr: ListenAddr,
    /// The blob endpoint's base URL as VMs reach it, written into the SAS URIs of backup
    /// tasks (e.g. `https://vaultsim/devstoreaccount1` in a compose network). Default:
    /// `https://<blob HTTPS address>/<account>` (`http://<blob address>/...` when HTTPS is
    /// off), loopback when bound to all interfaces. An `https://` URL makes the task's SAS
    /// `spr=https`.
    #[arg(long, env = "VAULTSIM_BLOB_PUBLIC_URL")]
    pub blob_public_url: Option<String>,
    /// PEM certificate chain (leaf first) for the HTTPS listeners, with `--tls-key`.
    /// Default: a chain generated into `<data dir>/tls/` on first start; clients trust
    /// its `ca.pem`.
    #[arg(long, env = "VAULTSIM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "VAULTSIM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// More names for the generated server certificate, besides `127.0.0.1`, `::1` and
    /// `localhost` (a DNS name or an IP address; repeatable, or comma-separated).
    #[arg(long, env = "VAULTSIM_TLS_SAN", value_delimiter = ',')]
    pub tls_san: Vec<String>,
    /// Address of the guest API, where agents register and fetch their VM's goal state
    /// (Azure's wire server, 168.63.129.16:32526).
    #[arg(long, env = "VAULTSIM_GUEST_ADDR", default_value = "127.0.0.1:32526")]
    pub guest_addr: SocketAddr,
    /// Who takes a backup's disk snapshots, as the task's `customSettings.takeSnapshotFrom`
    /// tells the extension: `onlyGuest` (the extension, through each disk's SAS URI),
    /// `onlyHost` (the guest API's presnapshot/dosnapshot, Azure's wire server),
    /// `firstHostThenGuest` (Azure's default) or `firstGuestThenHost`.
    #[arg(
        long,
        env = "VAULTSIM_SNAPSHOT_METHOD",
        default_value = "firstHostThenGuest"
    )]
    pub snapshot_method: SnapshotMethod,
    /// Storage account name served by the blob endpoint.
    #[arg(
        long,
        env = "VAULTSIM_ACCOUNT_NAME",
        default_value = "devstoreaccount1"
    )]
    pub account_name: String,
    /// Base64 account key (default: Azurite's well-known key).
    #[arg(long, env = "VAULTSIM_ACCOUNT_KEY", default_value = DEV_ACCOUNT_KEY, hide_default_value = true, hide_env_values = true)]
    pub account_key: SecretString,
    /// Journal growth, in bytes, after which the blob store writes a checkpoint (restart
    /// time follows the journal written since the last one).
    #[arg(long, env = "VAULTSIM_BLOB_CHECKPOINT_BYTES", default_value_t = 64 << 20)]
    pub blob_checkpoint_bytes: u64,
    /// A second base64 account key, accepted as well (key rotation).
    #[arg(long, env = "VAULTSIM_ACCOUNT_KEY2", hide_env_values = true)]
    pub account_key2: Option<SecretString>,
}

/// Where the demo keeps its data unless told: apart from `serve`'s `./vaultsim-data`,
/// since every demo starts afresh by wiping it.
pub const DEMO_DATA_DIR: &str = "./vaultsim-demo-data";

#[derive(Debug, Clone, Args)]
// The demo's own data directory and variable, so that neither `serve`'s default nor a
// `VAULTSIM_DATA_DIR` set for it is what the demo wipes.
#[command(mut_arg("data_dir", |arg| arg.default_value(DEMO_DATA_DIR).env("VAULTSIM_DEMO_DATA_DIR")))]
pub struct DemoConfig {
    /// The service, as `serve` takes it (its data directory is wiped at every demo start,
    /// and refused when it holds anything but a demo's data).
    #[command(flatten)]
    pub serve: ServeConfig,
    /// How many simulated VMs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub vms: u16,
    /// Simulated seconds per real second (360: a simulated day every 4 minutes). The clock
    /// waits while backups take their snapshots.
    #[arg(long, default_value_t = 360.0, value_parser = parse_speed)]
    pub speed: f64,
}

fn parse_speed(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(speed) if (1.0..=86_400.0).contains(&speed) => Ok(speed),
        _ => Err("expected simulated seconds per real second, from 1 to 86400".to_owned()),
    }
}

/// An address to listen on, or none (`off`).
pub type ListenAddr = Option<SocketAddr>;

fn parse_listen_addr(value: &str) -> Result<ListenAddr, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|e| format!("{e}: expected an address such as 127.0.0.1:8443, or off"))
}

impl ServeConfig {
    /// Whether this process runs `component`.
    pub fn runs(&self, component: Component) -> bool {
        self.components.contains(&component)
    }

    /// How the HTTPS listeners get their certificate.
    pub fn tls_settings(&self) -> crate::tls::TlsSettings {
        crate::tls::TlsSettings {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            extra_sans: self.tls_san.clone(),
        }
    }

    /// The defaults on loopback with every port picked by the system, over the data in
    /// `data_dir` (and `database_url`, else SQLite there): one service of many on a machine,
    /// as tests and benchmarks run it.
    pub fn ephemeral(data_dir: &std::path::Path, database_url: Option<String>) -> ServeConfig {
        let any_port: SocketAddr = ([127, 0, 0, 1], 0).into();
        ServeConfig {
            database: DatabaseConfig {
                data_dir: data_dir.to_owned(),
                database_url,
            },
            components: ALL_COMPONENTS.to_vec(),
            storage_connection_string: Vec::new(),
            storage_placement: Placement::default(),
            http_addr: any_port,
            https_addr: Some(any_port),
            public_url: None,
            no_auth: false,
            blob_addr: any_port,
            blob_https_addr: Some(any_port),
            blob_public_url: None,
            tls_cert: None,
            tls_key: None,
            tls_san: Vec::new(),
            guest_addr: any_port,
            snapshot_method: SnapshotMethod::default(),
            account_name: "devstoreaccount1".to_owned(),
            account_key: DEV_ACCOUNT_KEY.into(),
            blob_checkpoint_bytes: 64 << 20,
            account_key2: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn serve(args: &[&str]) -> Result<ServeConfig, clap::Error> {
        let argv = ["vaultsim", "serve"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(config) => Ok(*config),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn https_is_on_by_default_and_off_turns_a_listener_off() {
        let defaults = serve(&[]).unwrap();
        assert_eq!(defaults.https_addr, Some(([127, 0, 0, 1], 8443).into()));
        assert_eq!(
            defaults.blob_https_addr,
            Some(([127, 0, 0, 1], 10443).into())
        );
        let off = serve(&["--https-addr", "off", "--blob-https-addr", "OFF"]).unwrap();
        assert_eq!((off.https_addr, off.blob_https_addr), (None, None));
        assert!(serve(&["--https-addr", "8443"]).is_err());
    }

    #[test]
    fn a_certificate_needs_its_key_and_names_split_on_commas() {
        assert!(serve(&["--tls-cert", "c.pem"]).is_err());
        assert!(serve(&["--tls-key", "k.pem"]).is_err());
        let given = serve(&[
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-san",
            "a,10.0.0.1",
        ])
        .unwrap();
        assert_eq!(given.tls_settings().extra_sans, ["a", "10.0.0.1"]);
        assert_eq!(given.tls_settings().cert, Some(PathBuf::from("c.pem")));
    }

    fn demo(args: &[&str]) -> Result<DemoConfig, clap::Error> {
        let argv = ["vaultsim", "demo"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Demo(config) => Ok(*config),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_demo_keeps_its_data_apart_from_serve_and_takes_serve_flags() {
        let defaults = demo(&[]).unwrap();
        assert_eq!(
            defaults.serve.database.data_dir,
            PathBuf::from(DEMO_DATA_DIR)
        );
        assert_eq!(
            serve(&[]).unwrap().database.data_dir,
            PathBuf::from("./vaultsim-data")
        );
        assert_eq!((defaults.vms, defaults.speed), (3, 360.0));
        let given = demo(&[
            "--http-addr",
            "127.0.0.1:0",
            "--vms",
            "5",
            "--speed",
            "3600",
        ])
        .unwrap();
        assert_eq!(given.serve.http_addr, ([127, 0, 0, 1], 0).into());
        assert_eq!((given.vms, given.speed), (5, 3600.0));
        for bad in [["--vms", "0"], ["--speed", "0.5"], ["--speed", "fast"]] {
            assert!(demo(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_shows_no_account_key() {
        let config = serve(&[
            "--account-key",
            "S2V5T25lS2V5T25l",
            "--account-key2",
            "S2V5VHdvS2V5VHdv",
        ])
        .unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("devstoreaccount1"), "{shown}");
        for key in ["S2V5T25lS2V5T25l", "S2V5VHdvS2V5VHdv"] {
            assert!(!shown.contains(key), "{shown}");
        }
        assert!(!format!("{:?}", serve(&[]).unwrap()).contains(DEV_ACCOUNT_KEY));
    }
}
