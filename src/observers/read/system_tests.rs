//! The host reader over fixture files: the columns, the utilizations over two reads,
//! the memory states, and what is left out when a file is missing or odd.

use super::*;

/// `/proc/stat` with the total line and two CPUs of these ten columns each, followed
/// by lines the reader must not need.
fn stat_text(cpu0: [u64; 10], cpu1: [u64; 10]) -> String {
    let line = |name: &str, columns: [u64; 10]| {
        let columns: Vec<String> = columns.iter().map(u64::to_string).collect();
        format!("{name} {}\n", columns.join(" "))
    };
    let total = std::array::from_fn(|i| cpu0[i] + cpu1[i]);
    format!(
        "{}{}{}intr 1 2 3\nctxt 99\nbtime 1700000000\n",
        line("cpu ", total),
        line("cpu0", cpu0),
        line("cpu1", cpu1),
    )
}

/// Columns `base, base + 10, …`.
fn columns(base: u64) -> [u64; 10] {
    std::array::from_fn(|i| base + 10 * i as u64)
}

const MEMINFO: &str = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n\
                       Buffers: 50 kB\nCached: 300 kB\nSwapTotal: 0 kB\n";

/// A reader over a fake `/proc` with `stat` and `meminfo`, and the sample it has read
/// once.
struct Fixture {
    root: tempfile::TempDir,
    reader: SystemReader,
    sample: SystemSample,
}

impl Fixture {
    fn new(stat: &str, meminfo: &str, per_cpu: bool) -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let mut fixture = Fixture {
            reader: SystemReader::new(root.path(), per_cpu),
            root,
            sample: SystemSample::default(),
        };
        fixture.read("stat", stat);
        fixture.read("meminfo", meminfo);
        fixture
    }

    /// Writes `text` to the file `name` and reads everything again.
    fn read(&mut self, name: &str, text: &str) -> &SystemSample {
        std::fs::write(self.root.path().join(name), text).unwrap();
        self.reader.read(&mut self.sample);
        &self.sample
    }
}

#[test]
fn cpu_lines_give_seven_modes_with_interrupts_summed_and_guest_left_out() {
    // user nice system idle iowait irq softirq steal guest guest_nice
    let (number, ticks) = parse_cpu_line("3 1 2 3 4 5 6 7 8 9 10").unwrap();
    assert_eq!((number, ticks), (Some(3), [1, 2, 3, 4, 5, 13, 8]));
    let (number, _) = parse_cpu_line("  1 2 3 4 5 6 7 8").unwrap();
    assert_eq!(number, None);
    assert!(parse_cpu_line(" 1 2 3 4").is_err(), "too few columns");
    assert!(parse_cpu_line("x 1 2 3 4 5 6 7 8").is_err());
}

#[cfg(target_os = "linux")]
#[test]
fn utilization_is_each_modes_share_of_the_ticks_since_the_previous_read() {
    let mut fixture = Fixture::new(&stat_text(columns(100), columns(100)), MEMINFO, true);
    let sample = fixture.read("stat", &stat_text(columns(100), columns(100)));
    assert_eq!(sample.logical_count, Some(2));
    assert_eq!(
        sample.cpu.utilization, [None; 7],
        "no window without a tick"
    );
    assert_eq!(sample.cpu.seconds[0], Some(2.0), "200 ticks at 100 Hz");
    assert_eq!(sample.per_cpu.len(), 2);

    // Every column grows by 7 ticks: each mode has 7 of the 56 ticks of the window
    // (guest columns excluded), interrupt 14 (irq and softirq).
    let sample = fixture.read("stat", &stat_text(columns(107), columns(107)));
    let shares = [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0].map(|s| Some(s / 8.0));
    assert_eq!(sample.cpu.utilization, shares);
    assert_eq!(sample.per_cpu[1].number, Some(1));
    assert_eq!(sample.per_cpu[1].utilization, shares);

    // No tick since: the last window's shares stand, and the window goes on.
    let sample = fixture.read("stat", &stat_text(columns(107), columns(107)));
    assert_eq!(sample.cpu.utilization, shares);
    let idle = |n| std::array::from_fn(|i| 107 + 10 * i as u64 + if i == 3 { n } else { 0 });
    let sample = fixture.read("stat", &stat_text(idle(4), idle(4)));
    assert_eq!(sample.cpu.utilization[3], Some(1.0), "8 idle ticks of 8");
    assert_eq!(sample.cpu.utilization[0], Some(0.0));
}

#[cfg(target_os = "linux")]
#[test]
fn memory_used_is_total_less_available() {
    let mut fixture = Fixture::new(&stat_text(columns(1), columns(2)), MEMINFO, false);
    let kib = |k: i64| Some(k * 1024);
    let sample = &fixture.sample;
    assert_eq!(sample.memory_usage, [kib(400), kib(100), kib(50), kib(300)]);
    let shares = [Some(0.4), Some(0.1), Some(0.05), Some(0.3)];
    assert_eq!(sample.memory_utilization, shares);
    assert!(sample.per_cpu.is_empty(), "per CPU only when asked");

    // Without MemAvailable (Linux before 3.14): total - free - buffers - cached.
    let old = MEMINFO.replace("MemAvailable: 600 kB\n", "");
    assert_eq!(fixture.read("meminfo", &old).memory_usage[0], kib(550));
}

#[test]
fn missing_or_odd_files_leave_their_values_out_not_zero() {
    let fixture = Fixture::new("intr 1 2 3\n", "SwapTotal: 0 kB\n", true);
    assert_eq!(fixture.sample, SystemSample::default());
    let empty = tempfile::tempdir().unwrap();
    let mut sample = SystemSample::default();
    SystemReader::new(empty.path(), false).read(&mut sample);
    assert_eq!(sample, SystemSample::default());
}

#[cfg(target_os = "linux")]
#[test]
fn the_real_proc_gives_every_value() {
    let mut reader = SystemReader::new(Path::new("/proc"), true);
    let mut sample = SystemSample::default();
    reader.read(&mut sample);
    std::thread::sleep(std::time::Duration::from_millis(30));
    reader.read(&mut sample);
    let cpus = sample.logical_count.unwrap();
    assert!(cpus >= 1);
    assert_eq!(sample.per_cpu.len() as i64, cpus);
    assert!(sample.cpu.seconds.iter().all(Option::is_some));
    assert!(sample
        .memory_usage
        .iter()
        .all(|b| b.is_some_and(|b| b >= 0)));
    let used = sample.memory_utilization[0].unwrap();
    assert!(used > 0.0 && used < 1.0, "{used}");
}
