//! The `batchlabel` binary: a thin wrapper over `batchlabel-cli`.

// Rows are allocated on one thread and freed on another at a high rate; mimalloc handles
// that pattern far better than glibc's allocator (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    batchlabel_cli::main()
}
