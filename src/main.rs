/// The system's malloc, counting the WebSocket layer's memory in workers
/// (`c1m_sys::alloc`).
#[global_allocator]
static ALLOC: c1m_sys::alloc::Counting = c1m_sys::alloc::Counting;

fn main() -> std::process::ExitCode {
    // Built unwinding (./test.sh's profile, `release-tests`), a panic
    // still ends the process at once, after its message, as the release
    // profile's `panic = "abort"` does: no thread goes on past another's
    // panic, no destructor runs on the way out.
    #[cfg(panic = "unwind")]
    {
        let message = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            message(info);
            std::process::abort();
        }));
    }
    c1m::cmd::main()
}
