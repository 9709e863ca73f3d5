//! Worker processes: spawned so that none outlives its supervisor.
//! See prctl(2) `PR_SET_PDEATHSIG`, setpgid(2), kill(2).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Pid, Signal};

/// Arranges for a command's child to be a c1m worker: it joins the process
/// group `group` (0: a new group led by the child, so the terminal's Ctrl-C
/// reaches only the supervisor), runs at nice value `nice` (the supervisor
/// may have raised its own priority), and the kernel kills it with SIGKILL
/// the moment the spawning thread dies, whatever the way.
#[allow(unsafe_code)]
pub fn make_worker(cmd: &mut Command, group: u32, nice: i32) {
    let parent = rustix::process::getpid();
    cmd.process_group(group as i32);
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed; it makes only raw system calls
    // (setpriority, prctl, getppid, via rustix: no allocation, no locks) and
    // builds an io::Error from an errno, which does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setpriority_process(None, nice).map_err(io::Error::from)?;
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(io::Error::from)?;
            // The parent may have died before the prctl took effect.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

fn pid(raw: u32) -> io::Result<Pid> {
    Pid::from_raw(raw as i32).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

/// Sends SIGKILL to every process of the group `group`.
pub fn kill_group(group: u32) -> io::Result<()> {
    match rustix::process::kill_process_group(pid(group)?, Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sends `SIGTERM` to one process.
pub fn terminate(raw_pid: u32) -> io::Result<()> {
    rustix::process::kill_process(pid(raw_pid)?, Signal::TERM).map_err(io::Error::from)
}

/// Sends `SIGKILL` to one process.
pub fn kill(raw_pid: u32) -> io::Result<()> {
    rustix::process::kill_process(pid(raw_pid)?, Signal::KILL).map_err(io::Error::from)
}

/// Sets this process's nice value (lower runs first); raising priority
/// needs CAP_SYS_NICE. See setpriority(2).
pub fn set_nice(nice: i32) -> io::Result<()> {
    rustix::process::setpriority_process(None, nice).map_err(io::Error::from)
}

/// This process's nice value.
pub fn nice() -> io::Result<i32> {
    rustix::process::getpriority_process(None).map_err(io::Error::from)
}

/// This process's id.
pub fn my_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The name of a signal number, as in `kill -l`.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
