use clap::Parser;

// Rendering allocates many small strings and values; mimalloc serves them
// faster than the system allocator. Built without transparent huge pages
// (`no_thp`): with them every touched 2 MiB of its regions stays resident,
// which doubled the operator's RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match goldpath::cli::run(goldpath::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
