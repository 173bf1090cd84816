//! The process reader over fixture files (parsing, what is left out) and over this
//! test process (what Linux really gives).

use super::*;

/// A `/proc/self/stat` line of `name` with fields 3.. numbered by their position, except
/// num_threads (20) = 7, starttime (22) = 500, vsize (23) = 8192000, rss (24) = 300.
fn stat_line(name: &str) -> String {
    let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
    fields[20 - 3] = "7".into();
    fields[22 - 3] = "500".into();
    fields[23 - 3] = "8192000".into();
    fields[24 - 3] = "300".into();
    format!("4242 ({name}) {}\n", fields.join(" "))
}

const PARSED: Stat = Stat {
    threads: 7,
    start_ticks: 500,
    virtual_bytes: 8_192_000,
    resident_pages: 300,
};

#[test]
fn stat_fields_are_counted_after_the_last_parenthesis() {
    assert_eq!(parse_stat(&stat_line("app")).unwrap(), PARSED);
    assert_eq!(parse_stat(&stat_line("a (b) c")).unwrap(), PARSED);
    assert_eq!(parse_stat(&stat_line(") 1 2 3 (")).unwrap(), PARSED);
    assert!(parse_stat("4242 (app) S 1 2").is_err());
    assert!(parse_stat("4242 app S").is_err());
}

#[test]
fn io_needs_both_storage_counters() {
    let io = "rchar: 1\nwchar: 2\nread_bytes: 4096\nwrite_bytes: 8192\n";
    assert_eq!(parse_io(io).unwrap(), [4096, 8192]);
    assert!(parse_io("rchar: 1\nread_bytes: 4096\n").is_err());
}

#[test]
fn utilization_is_cpu_seconds_per_wall_second_per_cpu() {
    assert_eq!(utilization(0.5, 1.0, 2.0), Some(0.25));
    assert_eq!(utilization(3.0, 2.0, 4.0), Some(0.375));
    assert_eq!(utilization(-0.01, 1.0, 1.0), Some(0.0));
    assert_eq!(utilization(0.5, 0.0, 2.0), None);
}

/// A fake `/proc` with `self/stat`, `uptime` and, if given, `self/io`.
fn fake_proc(io: Option<&str>) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("self")).unwrap();
    std::fs::write(root.path().join("self/stat"), stat_line("app")).unwrap();
    std::fs::write(root.path().join("uptime"), "1000.00 1900.00\n").unwrap();
    if let Some(io) = io {
        std::fs::write(root.path().join("self/io"), io).unwrap();
    }
    root
}

#[cfg(target_os = "linux")]
#[test]
fn fixture_values_are_read_and_missing_ones_left_out() {
    let root = fake_proc(Some("read_bytes: 10\nwrite_bytes: 20\n"));
    let mut reader = ProcessReader::new(root.path(), 2);
    let mut sample = ProcessSample::default();
    reader.read(&mut sample);
    let page = unix::page_size().unwrap() as i64;
    assert_eq!(sample.memory_usage, Some(300 * page));
    assert_eq!(sample.memory_virtual, Some(8_192_000));
    assert_eq!(sample.threads, Some(7));
    assert_eq!(sample.disk_io, [Some(10), Some(20)]);
    // No self/fd in the fixture: left out, not 0.
    assert_eq!(sample.file_descriptors, None);
    // Started 5 s after boot (500 ticks at 100 Hz), the host up 1000 s: 995 s old.
    let uptime = sample.uptime.unwrap();
    assert!((995.0..1000.0).contains(&uptime), "{uptime}");
    assert_eq!(
        sample.cpu_utilization,
        [None, None],
        "no window at the first read"
    );
}

#[test]
fn a_read_within_the_shortest_window_keeps_the_previous_utilization() {
    let root = tempfile::tempdir().unwrap();
    let mut reader = ProcessReader::new(root.path(), 2);
    let t0 = Instant::now();
    assert_eq!(reader.utilization(t0, [1.0, 0.5], [None; 2]), [None; 2]);
    let later = t0 + Duration::from_secs(1);
    let first = reader.utilization(later, [1.5, 0.5], [None; 2]);
    assert_eq!(first, [Some(0.25), Some(0.0)], "0.5 s of 2 CPUs over 1 s");
    let soon = later + MIN_WINDOW / 2;
    assert_eq!(reader.utilization(soon, [1.6, 0.5], first), first);
    let next = later + Duration::from_secs(2);
    let second = reader.utilization(next, [3.5, 1.5], first);
    assert_eq!(
        second,
        [Some(0.5), Some(0.25)],
        "measured from the last window's end"
    );
}

#[test]
fn an_unreadable_proc_leaves_its_values_out() {
    let root = tempfile::tempdir().unwrap();
    let mut reader = ProcessReader::new(root.path(), 1);
    let mut sample = ProcessSample::default();
    reader.read(&mut sample);
    reader.read(&mut sample);
    assert_eq!(sample.memory_usage, None);
    assert_eq!(sample.memory_virtual, None);
    assert_eq!(sample.threads, None);
    assert_eq!(sample.file_descriptors, None);
    assert_eq!(sample.disk_io, [None, None]);
    assert_eq!(sample.uptime, None);
    // getrusage needs no /proc.
    #[cfg(unix)]
    assert!(sample.cpu_time.iter().all(Option::is_some));
}

#[cfg(target_os = "linux")]
#[test]
fn the_real_proc_gives_every_value() {
    let mut reader = ProcessReader::new(Path::new("/proc"), 1);
    let mut sample = ProcessSample::default();
    reader.read(&mut sample);
    reader.read(&mut sample);
    assert!(sample.memory_usage.unwrap() > 1 << 20, "{sample:?}");
    assert!(sample.memory_virtual.unwrap() >= sample.memory_usage.unwrap());
    assert!(sample.threads.unwrap() >= 1);
    assert!(
        sample.file_descriptors.unwrap() >= 3,
        "stdin, stdout, stderr"
    );
    assert!(sample.uptime.unwrap() > 0.0);
    assert!(sample.cpu_time.iter().all(|t| t.is_some_and(|t| t >= 0.0)));
    assert!(sample.context_switches.iter().all(Option::is_some));
    assert!(sample.paging_faults[1].unwrap() > 0);
    let utilization = sample.cpu_utilization;
    assert!(
        utilization.iter().flatten().all(|u| *u >= 0.0),
        "{utilization:?}"
    );
}
