use std::process::ExitCode;

use clap::Parser;
use vaultsim::config::{Cli, Command};
use vaultsim::startup::{shutdown_signal, Application};
use vaultsim::store::Db;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints what happens itself; its log shows only what goes wrong.
    let default_level = match cli.command {
        Command::Demo(_) => "warn",
        _ => "info",
    };
    vaultsim::telemetry::init(cli.log_format, default_level);
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: what failed and why, its causes joined by ": ".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => {
            let app = Application::build(&config).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Demo(config) => vaultsim::demo::run(*config).await,
        Command::Openapi => {
            print!("{}", vaultsim::api::openapi::document_json());
            Ok(())
        }
        Command::Migrate(config) => {
            let db = Db::connect(config.database_url.as_deref(), &config.data_dir).await?;
            db.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}
