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

/// Shape of the sparse blob that the snapshot and diff workloads set up first.
#[derive(Debug, Args)]
pub struct SparseBlobArgs {
    /// Separate 4 KiB ranges written, spread evenly over the blob.
    #[arg(long, default_value_t = 10_000)]
    pub ranges: u64,

    #[arg(long, default_value_t = 1024)]
    pub blob_size_gib: u64,
}
