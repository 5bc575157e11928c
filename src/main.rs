//! The `batchlabel` binary: a thin wrapper over `batchlabel-cli`.

fn main() -> std::process::ExitCode {
    batchlabel_cli::main()
}
