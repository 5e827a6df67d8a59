//! The `medvision-build` binary: everything lives in the library; see `cli` for flags and exit codes.

fn main() -> std::process::ExitCode {
    medvision_build::cli::run()
}
