//! Command-line surface: one global target description plus one subcommand per workload.

use clap::{Args, Parser, Subcommand};

/// Azurite's well-known development account key; vaultsim uses the same one.
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[derive(Debug, Parser)]
#[command(
    name = "vaultsim-loadgen",
    version,
    about = "Drives the same page-blob workload against any Azure-Blob-compatible endpoint on loopback \
             and prints one JSON line of results"
)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,

    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Path-style account URL; only loopback hosts are accepted.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:10000/devstoreaccount1"
    )]
    pub endpoint: String,

    #[arg(long, global = true, default_value = "devstoreaccount1")]
    pub account: String,

    /// Base64 account key used for Shared Key (container creation) and for minting the SAS.
    #[arg(long, global = true, default_value = DEV_ACCOUNT_KEY, hide_default_value = true)]
    pub key: String,

    /// Created with Shared Key if missing.
    #[arg(long, global = true, default_value = "bench")]
    pub container: String,

    /// Requests kept in flight at once (also the connection pool size).
    #[arg(long, global = true, default_value_t = 16)]
    pub concurrency: usize,

    /// PEM CA certificate that verifies an `https://` endpoint (e.g. vaultsim's
    /// `<data dir>/tls/ca.pem`).
    #[arg(long, global = true)]
    pub ca_file: Option<std::path::PathBuf>,

    /// Name of the server under test, copied into the JSON line.
    #[arg(long, global = true, default_value = "vaultsim")]
    pub label: String,

    /// Any single request taking longer than this counts as an error.
    #[arg(long, global = true, default_value_t = 120)]
    pub request_timeout_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum Workload {
    /// Fill a page blob front to back with 4 MiB Put Page requests.
    SeqWrite {
        /// Blob size, and so the number of bytes written (a multiple of 4).
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
    },
    /// Write a page blob (untimed), then read it back with 4 MiB ranged Get Blob requests.
    SeqRead {
        /// Blob size, and so the number of bytes read (a multiple of 4).
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
    },
    /// 4 KiB Put Page requests at uniformly random 4 KiB-aligned offsets.
    RandWrite {
        #[arg(long, default_value_t = 1024)]
        blob_size_mib: u64,
        /// Stop after this long.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Stop after this many requests, if reached before `--seconds`.
        #[arg(long, default_value_t = 1_000_000)]
        requests: u64,
    },
    /// Latency of Snapshot Blob on a large sparse page blob with many written ranges.
    Snapshot {
        #[command(flatten)]
        sparse: SparseBlobArgs,
        /// Snapshots taken one after another, each one timed.
        #[arg(long, default_value_t = 100)]
        samples: u64,
    },
    /// Management API: create a vault with `items` protected VMs (untimed setup for arm-read).
    ArmSeed {
        #[command(flatten)]
        arm: ArmArgs,
        #[arg(long, default_value_t = 100_000)]
        items: u64,
    },
    /// Management API: GET protected items or the job list at a fixed rate.
    ArmRead {
        #[command(flatten)]
        arm: ArmArgs,
        #[command(flatten)]
        read: ArmRead,
    },
    /// Latency of Get Page Ranges with `prevsnapshot` between two snapshots of a large blob.
    Diff {
        #[command(flatten)]
        sparse: SparseBlobArgs,
        /// How many of the written ranges are rewritten between the two snapshots.
        #[arg(long, default_value_t = 100)]
        changed: u64,
        /// Diff requests issued one after another, each one timed.
        #[arg(long, default_value_t = 100)]
        samples: u64,
    },
}

/// Where the management API is and which vault the ARM workloads use.
#[derive(Debug, Clone, Args)]
pub struct ArmArgs {
    /// Base URL of the management API; only loopback hosts are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub management_url: String,
    /// The `credentials.json` the service wrote in its data directory.
    #[arg(long)]
    pub credentials: std::path::PathBuf,
    #[arg(long, default_value = "bench")]
    pub group: String,
    #[arg(long, default_value = "bench-vault")]
    pub vault: String,
    #[arg(long, default_value = "westeurope")]
    pub location: String,
    /// Name of the configuration under test, copied into the JSON line.
    #[arg(long, default_value = "vaultsim")]
    pub label: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ArmRequestKind {
    /// GET of one protected item (a different one each time).
    Item,
    /// GET of the vault's job list (first page, newest first).
    Jobs,
}

impl ArmRequestKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Item => "item",
            Self::Jobs => "jobs",
        }
    }
}

#[derive(Debug, Args)]
pub struct ArmRead {
    #[arg(long, value_enum)]
    pub request: ArmRequestKind,
    /// Protected items seeded (`vm000000`..).
    #[arg(long, default_value_t = 100_000)]
    pub items: u64,
    /// Requests per second, sent on schedule.
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
}

/// Shape of the sparse blob that the snapshot and diff workloads set up first.
#[derive(Debug, Args)]
pub struct SparseBlobArgs {
    /// Separate 4 KiB ranges written, spread evenly over the blob.
    #[arg(long, default_value_t = 10_000)]
    pub ranges: u64,

    #[arg(long, default_value_t = 1024)]
    pub blob_size_gib: u64,
}
