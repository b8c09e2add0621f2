//! The `goldpath` command line.

use std::io::Write;

use clap::{Parser, Subcommand};

/// goldpath: golden-path templates, self-service requests and the software
/// catalog as Kubernetes resources.
#[derive(Parser, Debug)]
#[command(name = "goldpath", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print goldpath's CustomResourceDefinitions as one YAML stream.
    Crds,
}

/// Runs the command line; the binary's `main` is only this.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crds => {
            let yaml = crate::api::crds_yaml()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
            Ok(())
        }
    }
}
