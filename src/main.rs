use clap::Parser;
use vaultsim::config::{Cli, Command};
use vaultsim::startup::{shutdown_signal, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vaultsim::telemetry::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            let app = Application::build(&config).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
    }
}
