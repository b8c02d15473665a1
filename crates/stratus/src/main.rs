//! The `stratus` binary: `stratus up` runs the whole cloud in one process; other subcommands
//! are the operator's tools. Configuration comes from a TOML file, then environment variables,
//! then flags, each overriding the one before.
//!
//! This crate composes services and must hold no service logic of its own.

mod cli;
mod clouds;
mod config;
mod host;
mod up;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stratus: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stratus: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
