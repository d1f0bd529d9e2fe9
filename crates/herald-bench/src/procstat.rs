//! Reading a process's resident memory, open descriptors and CPU time from `/proc`.

use std::time::Duration;

/// Resident memory of `pid`, in bytes (`/proc/PID/statm`, second field).
pub(crate) fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/statm"))?;
    let pages = text.split_whitespace().nth(1).and_then(|f| f.parse::<u64>().ok()).ok_or_else(malformed)?;
    Ok(pages * rustix::param::page_size() as u64)
}

/// Anonymous resident memory of `pid` (heap, stacks; not the mapped binary), in bytes: the
/// `Anonymous:` line of `/proc/PID/smaps_rollup`.
pub(crate) fn anonymous_bytes(pid: u32) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    parse_kib_field(&text, "Anonymous:").map(|kib| kib * 1024).ok_or_else(malformed)
}

/// The highest resident memory `pid` has had, in bytes: `VmHWM:` of `/proc/PID/status`.
pub(crate) fn peak_rss_bytes(pid: u32) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_kib_field(&text, "VmHWM:").map(|kib| kib * 1024).ok_or_else(malformed)
}

/// Open file descriptors of `pid`: the entries of `/proc/PID/fd`.
pub(crate) fn open_fds(pid: u32) -> std::io::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// User plus system CPU time of `pid`, all its threads (`/proc/PID/stat`, utime and stime).
/// The kernel counts it in clock ticks, usually 10 ms.
pub(crate) fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&text)
        .map(|ticks| Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64))
        .ok_or_else(malformed)
}

/// Sums `read` over `pids`.
pub(crate) fn total<T: std::iter::Sum>(pids: &[u32], read: impl Fn(u32) -> std::io::Result<T>) -> std::io::Result<T> {
    pids.iter().map(|&pid| read(pid)).sum()
}

/// utime + stime from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 (state) is the first
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value of a `Name:   123 kB` line.
fn parse_kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

fn malformed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected /proc format")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_fields_after_a_name_with_spaces() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 100 1000 10";
        assert_eq!(parse_cpu_ticks(stat), Some(12));
    }

    #[test]
    fn smaps_rollup_fields() {
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  20480 kB\nAnonymous:   12288 kB\n";
        assert_eq!(parse_kib_field(rollup, "Anonymous:"), Some(12288));
        assert_eq!(parse_kib_field(rollup, "Swap:"), None);
    }

    #[test]
    fn this_process_is_measurable() {
        let me = std::process::id();
        assert!(rss_bytes(me).is_ok_and(|b| b > 0));
        assert!(anonymous_bytes(me).is_ok_and(|b| b > 0));
        assert!(open_fds(me).is_ok_and(|n| n >= 3));
        assert!(cpu_time(me).is_ok());
        assert!(total(&[me, me], rss_bytes).is_ok());
    }
}
