//! What the kernel says of the simulation thread: whether it runs, sleeps or is stopped, how
//! much CPU time it has used, and in which system call it waits. The watchdog decides from these,
//! not from wall time, so that a machine that is slow or loaded, or a process stopped and
//! continued, never looks like a stuck run.
//!
//! Linux only (`/proc/<pid>/task/<tid>/`); elsewhere [`ThreadProbe::of_current_thread`] gives
//! `None` and the watchdog falls back to wall time for busy loops.

use std::path::PathBuf;
use std::time::Duration;

/// Reads the state of one thread (made on that thread, read from any other).
#[derive(Clone, Debug)]
pub(crate) struct ThreadProbe {
    dir: PathBuf,
}

/// One reading of a thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadSample {
    /// The scheduler state: `R` running or runnable, `S` asleep in the kernel, `D` in
    /// uninterruptible I/O, `T` stopped (SIGSTOP, a debugger).
    pub(crate) state: char,
    /// CPU time the thread has used so far.
    pub(crate) cpu: Duration,
    /// The system call it is in, when asleep and readable.
    pub(crate) syscall: Option<u64>,
}

impl ThreadProbe {
    /// A probe of the calling thread, if this system has `/proc/thread-self`.
    pub(crate) fn of_current_thread() -> Option<ThreadProbe> {
        // "/proc/thread-self" links to "<pid>/task/<tid>": keep the resolved path, which other
        // threads can read.
        let target = std::fs::read_link("/proc/thread-self").ok()?;
        let probe = ThreadProbe {
            dir: PathBuf::from("/proc").join(target),
        };
        probe.sample().map(|_| probe)
    }

    /// Reads the thread's state now; `None` once the thread is gone.
    pub(crate) fn sample(&self) -> Option<ThreadSample> {
        let stat = std::fs::read_to_string(self.dir.join("stat")).ok()?;
        // The command name, in parentheses, may hold spaces: the fields start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let state = fields.first()?.chars().next()?;
        let cpu = match std::fs::read_to_string(self.dir.join("schedstat")) {
            // Nanoseconds on the CPU, the first field.
            Ok(s) => Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?),
            // utime + stime, fields 14 and 15 of stat (11 and 12 after the name), in the
            // kernel's USER_HZ ticks, which Linux fixes at 100 per second for /proc.
            Err(_) => {
                let ticks: u64 =
                    fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
                Duration::from_millis(ticks * 10)
            }
        };
        let syscall = if state == 'S' {
            std::fs::read_to_string(self.dir.join("syscall"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
        } else {
            None
        };
        Some(ThreadSample {
            state,
            cpu,
            syscall,
        })
    }
}

/// What a thread asleep in system call `number` is doing, in a student's words; `None` for a
/// call the simulation thread may legitimately sleep in (writing output to a slow reader).
pub(crate) fn blocking_call(number: Option<u64>) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    const CALLS: Calls = Calls {
        futex: &[202],
        sleep: &[35, 230],
        read: &[0, 7, 23, 232, 270, 271, 281],
        write: &[1, 20],
    };
    #[cfg(target_arch = "aarch64")]
    const CALLS: Calls = Calls {
        futex: &[98],
        sleep: &[101, 115],
        read: &[63, 22, 72, 73],
        write: &[64, 66],
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const CALLS: Calls = Calls {
        futex: &[],
        sleep: &[],
        read: &[],
        write: &[],
    };
    let Some(n) = number else {
        return Some("a blocking system call");
    };
    if CALLS.write.contains(&n) {
        None
    } else if CALLS.futex.contains(&n) {
        Some("a futex wait (a std/parking_lot lock taken twice or held across an .await, a blocking channel receive, or a join/park on another thread)")
    } else if CALLS.sleep.contains(&n) {
        Some("a sleep (std::thread::sleep)")
    } else if CALLS.read.contains(&n) {
        Some("a wait for input or I/O (blocking I/O, or a wait on another thread)")
    } else {
        Some("a blocking system call")
    }
}

struct Calls {
    futex: &'static [u64],
    sleep: &'static [u64],
    read: &'static [u64],
    write: &'static [u64],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_thread_and_sees_a_sleeping_thread_in_a_sleep() {
        let Some(me) = ThreadProbe::of_current_thread() else {
            return; // not Linux
        };
        let sample = me.sample().unwrap();
        assert_eq!(sample.state, 'R');
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            tx.send(ThreadProbe::of_current_thread().unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(500)); // allowed: the thread under test
        });
        let probe = rx.recv().unwrap();
        let mut seen = None;
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(5)); // allowed: waits outside any simulation
            let s = probe.sample().unwrap();
            if s.state == 'S' {
                seen = Some(s);
                break;
            }
        }
        sleeper.join().unwrap();
        let seen = seen.expect("the sleeping thread was never seen asleep");
        assert_eq!(
            blocking_call(seen.syscall),
            Some("a sleep (std::thread::sleep)")
        );
    }
}
