//! `vaultsim-loadgen`: runs one bounded page-blob workload against an Azure-Blob-compatible
//! endpoint on loopback and prints one JSON line of results. Exits non-zero if any measured
//! request failed, so a benchmark can never silently report the speed of error replies.

mod arm;
mod auth;
mod cli;
mod client;
mod driver;
mod report;
mod workloads;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::cli::{Cli, Workload};
use crate::client::BlobClient;
use crate::workloads::{diff, rand_write, seq_read, seq_write, snapshot};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` keeps the context chain on one line, without a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(Cli { target, workload }: Cli) -> anyhow::Result<ExitCode> {
    match &workload {
        Workload::ArmSeed { arm, items } => {
            let report = arm::seed(arm, *items, target.concurrency).await?;
            println!("{}", serde_json::to_string(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        Workload::ArmRead { arm, read } => {
            let report = arm::read(arm, read).await?;
            println!("{}", serde_json::to_string(&report)?);
            return Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        _ => {}
    }
    let client = Arc::new(BlobClient::new(&target)?);
    client.ensure_container().await?;

    let report = match &workload {
        Workload::SeqWrite { size_mib } => seq_write::run(&client, &target, *size_mib).await?,
        Workload::SeqRead { size_mib } => seq_read::run(&client, &target, *size_mib).await?,
        Workload::RandWrite {
            blob_size_mib,
            seconds,
            requests,
        } => rand_write::run(&client, &target, *blob_size_mib, *seconds, *requests).await?,
        Workload::Snapshot { sparse, samples } => {
            snapshot::run(&client, &target, sparse, *samples).await?
        }
        Workload::Diff {
            sparse,
            changed,
            samples,
        } => diff::run(&client, &target, sparse, *changed, *samples).await?,
        Workload::ArmSeed { .. } | Workload::ArmRead { .. } => unreachable!("handled above"),
    };

    println!("{}", serde_json::to_string(&report)?);
    if let Some(first_error) = &report.first_error {
        eprintln!(
            "{} of {} {} requests to {} failed; first: {first_error}",
            report.errors, report.requests, report.workload, report.target
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
