use clap::Parser;

fn main() -> std::process::ExitCode {
    match goldpath::cli::run(goldpath::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
