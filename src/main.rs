fn main() -> std::process::ExitCode {
    c1m::cli::main()
}
