//! batchlabel-cli: the `batchlabel` command line. It parses arguments, runs one subcommand
//! (one file each under `commands/`), prints through [`printer::Printer`] and maps the
//! outcome to an exit code (0 done, 1 rows failed, 2 spec/input/runner error).
//!
//! It holds no pipeline logic: that lives in the library crates.

mod args;
mod commands;
mod exit_status;
mod model_fetch;
mod plugins;
mod printer;
mod run_progress;
mod wheel_member;
mod write_guard;

use std::process::ExitCode;

pub use exit_status::ExitStatus;

/// Run the command line and return the process exit code.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse_with_color();
    let printer = printer::Printer { quiet: cli.quiet };
    let status = match cli.command {
        args::Command::Check(args) => commands::check::check(&args, printer),
        args::Command::Compile(args) => commands::compile::compile(&args, printer),
        args::Command::Estimate(args) => commands::estimate::estimate(&args, printer),
        args::Command::Run(args) => commands::run::run(&args, printer),
        args::Command::Status(args) => commands::status::status(&args, printer),
        args::Command::Cancel(args) => commands::cancel::cancel(&args, printer),
        args::Command::Runs(args) => commands::runs::runs(&args, printer),
        args::Command::Init(args) => commands::init::init(&args, printer),
        args::Command::Completions(args) => commands::runs::completions(&args, printer),
        args::Command::Model(args) => commands::model::model(&args, printer),
        args::Command::Schema => commands::schema::schema(printer),
        args::Command::Clean(args) => commands::clean::clean(&args, printer),
        args::Command::Serve(args) => commands::serve::serve(&args, printer),
        args::Command::Pilot(args) => commands::pilot::pilot(&args, printer),
        args::Command::Eval(args) => commands::eval::eval(&args, printer),
        args::Command::Report(args) => commands::report::report(&args, printer),
    };
    status.into()
}
