/// The system's malloc, counting the WebSocket layer's memory in workers
/// (`c1m_sys::alloc`).
#[global_allocator]
static ALLOC: c1m_sys::alloc::Counting = c1m_sys::alloc::Counting;

fn main() -> std::process::ExitCode {
    c1m::cmd::main()
}
