fn main() -> std::process::ExitCode {
    c1m::cmd::main()
}
