//! What Linux's `/proc` says about a process (CPU time used, peak resident memory) and about the
//! whole machine (CPU time used), for the benchmarks and the simulation's figures.

/// User and system CPU time of process `pid` (or `"self"`) so far, in seconds; 0 when `/proc`
/// cannot be read.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'; utime and
    // stime are fields 14 and 15 of the whole line, 11 and 12 after the ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds the machine has spent busy since boot, all cores (`/proc/stat`); 0 when it
/// cannot be read.
pub fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user, nice, system, irq, softirq, steal: everything but idle and iowait.
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<f64>()
        / 100.0
}

/// Peak resident memory (`VmHWM`) of process `pid` (or `"self"`), in KiB, if readable.
pub fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_cpu_and_memory() {
        // CPU time is counted in ticks of 10 ms: spin until one shows, with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut spin = 0u64;
        while cpu_seconds("self") == 0.0 && std::time::Instant::now() < deadline {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(cpu_seconds("self") > 0.0);
        assert!(peak_rss_kib("self").is_some_and(|kib| kib > 0));
        assert!(machine_cpu_seconds() >= cpu_seconds("self"));
        assert_eq!(cpu_seconds("0"), 0.0);
        assert_eq!(peak_rss_kib("0"), None);
    }
}
