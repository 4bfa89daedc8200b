//! The `fxb` binary: parse, call the library, print. All logic lives in the `fxb` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
