//! Worker processes: spawned so that none outlives its supervisor, in a
//! process group of their own, at a nice value of their own.
//! See prctl(2) `PR_SET_PDEATHSIG`, setpgid(2), kill(2), setpriority(2).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// Arranges for a command's child to be a c1m worker: it joins the process
/// group `group` (0: a new group led by the child, so the terminal's Ctrl-C
/// reaches only the supervisor), runs at nice value `nice` (the supervisor
/// may have raised its own priority), and the kernel kills it with SIGKILL
/// the moment the spawning *thread* dies, whatever the way
/// (`PR_SET_PDEATHSIG`): spawn workers from a thread that lives as long as
/// they should.
///
/// If the supervisor died between `fork` and the `prctl`, the child exits
/// before `exec` and [`Command::spawn`] fails with `ESRCH`; a failing
/// setpriority(2) (raising priority without `CAP_SYS_NICE`: `EACCES`) or
/// prctl(2) fails the spawn the same way.
#[allow(unsafe_code)]
pub fn make_worker(cmd: &mut Command, group: u32, nice: i32) {
    let parent = rustix::process::getpid();
    cmd.process_group(group as i32);
    // SAFETY: `pre_exec` is unsafe because the closure runs in the child
    // between fork and exec, where another thread of the parent may have
    // held a lock (the allocator's, stdio's) at fork time, so only
    // async-signal-safe work is sound. The closure only makes raw system
    // calls through rustix's linux_raw backend (setpriority, prctl,
    // getppid: no allocation, no lock, no libc state) and turns an errno
    // into an `io::Error` with `from_raw_os_error`, which does not
    // allocate. It captures two `Copy` integers and touches no memory
    // shared with the parent.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setpriority_process(None, nice).map_err(io::Error::from)?;
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(io::Error::from)?;
            // The parent may have died before the prctl took effect.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::from(Errno::SRCH));
            }
            Ok(())
        });
    }
}

/// Sends SIGKILL to every process of the process group `group` (a
/// worker fleet's, as made by [`make_worker`]). A group with no process
/// left is not an error.
///
/// Errors: `EPERM` if some member belongs to another user; `ESRCH` for
/// group 0 or a number beyond `i32::MAX` (never a valid group).
pub fn kill_group(group: u32) -> io::Result<()> {
    let pgid = i32::try_from(group)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or(io::Error::from(Errno::SRCH))?;
    match rustix::process::kill_process_group(pgid, Signal::KILL) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Stops the calling process with SIGSTOP, sent to itself (kill(2)): it
/// stays stopped, holding whatever it holds, until a SIGCONT resumes it
/// or a SIGKILL ends it. For pausing at a known point (a test kills it
/// there).
pub fn stop_self() -> io::Result<()> {
    rustix::process::kill_process(rustix::process::getpid(), Signal::STOP).map_err(io::Error::from)
}

/// Sets the calling thread's nice value (−20 runs first, 19 last; on
/// Linux each thread has its own, and threads and children created
/// afterwards inherit it). Lowering priority needs no privilege; raising
/// it (a lower value) needs `CAP_SYS_NICE` or `RLIMIT_NICE` room, else
/// `EACCES`. See setpriority(2).
pub fn set_nice(nice: i32) -> io::Result<()> {
    rustix::process::setpriority_process(None, nice).map_err(io::Error::from)
}

/// The calling thread's nice value, −20 to 19 (getpriority(2)).
pub fn nice() -> io::Result<i32> {
    rustix::process::getpriority_process(None).map_err(io::Error::from)
}

/// CPU time this thread has used so far (`CLOCK_THREAD_CPUTIME_ID`,
/// clock_gettime(2)): what a piece of work cost, without the time the
/// thread waited for a core.
pub fn thread_cpu_time() -> std::time::Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Bytes this process has allocated and not yet freed, by the allocator's
/// own count: glibc's chunks in use in its arenas (`uordblks`) plus the
/// chunks it mapped whole (`hblkhd`), mallinfo2(3) (glibc 2.33+). What a
/// worker allocated between two readings, whatever RSS the pages touched
/// show. The call walks each arena's free lists under its lock (tens of
/// microseconds); `None` where the C library is not glibc.
#[allow(unsafe_code)]
pub fn heap_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2(3) takes no argument and returns a plain
        // struct of counters by value; it only reads malloc's own state,
        // taking each arena's lock, so it is sound to call at any time
        // outside a signal handler (never from one here).
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks as u64).saturating_add(m.hblkhd as u64))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// The name of a signal number as `kill -l` prints it with the `SIG`
/// prefix (`9` → `"SIGKILL"`), or `"a signal"` for a number with no name
/// (real-time signals among them). See signal(7).
pub fn signal_name(sig: i32) -> &'static str {
    signal_hook::low_level::signal_name(sig).unwrap_or("a signal")
}

/// This host's name: the UTS namespace's node name, as `uname -n` and
/// gethostname(2) give it (uname(2)); lossy UTF-8.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_in_use_grows_by_what_is_allocated() {
        let _one = crate::TEST_HEAP.lock().unwrap_or_else(|e| e.into_inner());
        let before = heap_in_use().unwrap();
        let kept: Vec<Box<[u8; 1000]>> = (0..1000).map(|_| Box::new([1u8; 1000])).collect();
        let grown = heap_in_use().unwrap() - before;
        assert!(
            (1_000_000..1_200_000).contains(&grown),
            "{grown} bytes for a thousand 1,000-byte boxes"
        );
        drop(kept);
    }
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn worker_runs_in_its_own_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "ps -o pgid= -p $$"]);
        make_worker(&mut cmd, 0, nice().unwrap());
        let out = cmd.output().unwrap();
        let child_pgid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_ne!(
            child_pgid,
            rustix::process::getpgrp().as_raw_nonzero().get() as u32
        );
    }

    #[test]
    fn nice_can_be_read_and_lowered() {
        let before = nice().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat /proc/self/stat"]);
        // Lowering priority needs no privilege: done in a child only.
        let out = std::thread::spawn(move || {
            // A thread's nice is its own on Linux; this one runs the child.
            set_nice(before + 1).unwrap();
            cmd.output().unwrap()
        })
        .join()
        .unwrap();
        let stat = String::from_utf8_lossy(&out.stdout).to_string();
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // Field 19 of stat is nice; after "(comm) " it is the 17th.
        assert_eq!(fields[16].parse::<i32>().unwrap(), before + 1);
        assert_eq!(nice().unwrap(), before);
    }

    #[test]
    fn names() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(2), "SIGINT");
        assert_eq!(signal_name(0), "a signal");
        assert_eq!(signal_name(-1), "a signal");
    }

    #[test]
    fn killing_a_group_kills_its_members_and_an_empty_group_is_fine() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        make_worker(&mut cmd, 0, nice().unwrap());
        let mut child = cmd.spawn().unwrap();
        // The child leads its own group: its pid is the group's id.
        kill_group(child.id()).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9));
        // Reaped: the group is empty now.
        kill_group(child.id()).unwrap();
        assert_eq!(
            kill_group(0).unwrap_err().raw_os_error(),
            Some(Errno::SRCH.raw_os_error())
        );
    }
}
