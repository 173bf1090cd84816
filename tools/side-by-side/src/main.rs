//! prompush side by side with what a user would pick instead, on the same data, into
//! Prometheus 3 (see the guide's "How prompush compares" chapter):
//!
//! - (a) prompush → Prometheus 3 remote write;
//! - (b) `opentelemetry_sdk` + `opentelemetry-otlp` (HTTP protobuf) → Prometheus 3's OTLP
//!   receiver;
//! - (c) the same SDK and exporter → the OpenTelemetry Collector → remote write →
//!   Prometheus 3.
//!
//! For each size and side: a fresh Prometheus (and Collector), a loopback proxy in
//! front of each hop that counts the bytes, and the application in a process of its own
//! (`side-by-side app …`, in `app.rs`) that pushes when told. Each push: every series
//! +1, T0, one push; Prometheus is polled every 10 ms until it has appended the push's
//! samples, and its query API then confirms that every series reads the push's value. Usage: `side-by-side [--series 10000,100000] [--pushes 5]
//! [--sides a,b,c] [--otlp-compression gzip|none]`; `scripts/side-by-side` builds the
//! peers and runs it.

mod app;
mod peers;
mod proxy;
mod report;
mod usage;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use report::{Measured, Push};

/// Instruments per run; the series are spread over them evenly, well under the
/// cardinality limit of 2,000 per instrument that the SDK and prompush share.
pub const INSTRUMENTS: usize = 100;
/// How often the query API is asked.
const POLL_EVERY: Duration = Duration::from_millis(10);
/// How long a push may take to become queryable before the run fails.
const QUERYABLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The three ways into Prometheus 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// (a) prompush, remote write.
    Prompush,
    /// (b) SDK + OTLP exporter, Prometheus' OTLP receiver.
    Otlp,
    /// (c) SDK + OTLP exporter, through the Collector.
    Collector,
}

impl Side {
    fn parse(s: &str) -> Result<Side, String> {
        match s {
            "a" => Ok(Side::Prompush),
            "b" => Ok(Side::Otlp),
            "c" => Ok(Side::Collector),
            _ => Err(format!("unknown side {s:?}: a, b or c")),
        }
    }

    /// Its letter, as the issue names it.
    pub fn letter(self) -> &'static str {
        match self {
            Side::Prompush => "a",
            Side::Otlp => "b",
            Side::Collector => "c",
        }
    }

    /// The `service.instance.id` its application reports.
    pub fn label(self) -> &'static str {
        match self {
            Side::Prompush => "side-a",
            Side::Otlp => "side-b",
            Side::Collector => "side-c",
        }
    }
}

struct Options {
    series: Vec<usize>,
    pushes: usize,
    sides: Vec<Side>,
    gzip: bool,
}

fn value_of<'a>(
    args: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<&'a String, String> {
    args.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        series: vec![10_000, 100_000],
        pushes: 5,
        sides: vec![Side::Prompush, Side::Otlp, Side::Collector],
        gzip: true,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--series" => {
                options.series = value_of(&mut args, arg)?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .replace('_', "")
                            .parse::<usize>()
                            .map_err(|e| format!("--series: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
                if let Some(bad) = options
                    .series
                    .iter()
                    .find(|n| **n < INSTRUMENTS || **n % INSTRUMENTS != 0)
                {
                    return Err(format!("--series {bad}: a multiple of {INSTRUMENTS}"));
                }
            }
            "--pushes" => {
                options.pushes = value_of(&mut args, arg)?
                    .parse()
                    .map_err(|e| format!("--pushes: {e}"))?;
                if options.pushes == 0 {
                    return Err("--pushes: at least 1".to_owned());
                }
            }
            "--sides" => {
                options.sides = value_of(&mut args, arg)?
                    .split(',')
                    .map(Side::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--otlp-compression" => {
                options.gzip = match value_of(&mut args, arg)?.as_str() {
                    "gzip" => true,
                    "none" => false,
                    other => return Err(format!("--otlp-compression {other:?}: gzip or none")),
                };
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("app") {
        run_app(&args[1..])
    } else {
        parse_options(&args).and_then(|options| run_all(&options))
    };
    if let Err(e) = result {
        eprintln!("side-by-side: {e}");
        std::process::exit(1);
    }
}

/// `side-by-side app SIDE SERIES ENDPOINT gzip|none`: the measured application.
fn run_app(args: &[String]) -> Result<(), String> {
    let [side, series, endpoint, compression] = args else {
        return Err("usage: side-by-side app a|b|c SERIES ENDPOINT gzip|none".to_owned());
    };
    let series: usize = series.parse().map_err(|e| format!("series: {e}"))?;
    app::run(Side::parse(side)?, series, endpoint, compression == "gzip")
}

fn run_all(options: &Options) -> Result<(), String> {
    eprintln!(
        "side-by-side: {} instruments, series {:?}, 1 warm-up push + {} measured, OTLP compression {}",
        INSTRUMENTS,
        options.series,
        options.pushes,
        if options.gzip { "gzip" } else { "none" }
    );
    let mut results = Vec::new();
    for &series in &options.series {
        for &side in &options.sides {
            eprintln!("-- {series} series, side ({})", side.letter());
            results.push(run_one(side, series, options)?);
        }
    }
    report::print(&results, options.gzip);
    Ok(())
}

/// The application's process and its pipes.
struct AppProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl AppProcess {
    fn start(side: Side, series: usize, endpoint: &str, gzip: bool) -> Result<AppProcess, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args([
                "app",
                side.letter(),
                &series.to_string(),
                endpoint,
                if gzip { "gzip" } else { "none" },
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the application: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(AppProcess {
            child,
            stdin,
            stdout,
        })
    }

    fn send(&mut self, command: &str) -> Result<(), String> {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("application: {e}"))
    }

    /// The next line, which must be `word` and `N` numbers: the numbers.
    fn expect<const N: usize>(&mut self, word: &str) -> Result<[u128; N], String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let mut fields = line.split_whitespace();
        if fields.next() != Some(word) {
            return Err(format!(
                "application: expected {word:?}, got {line:?} (it failed: see above)"
            ));
        }
        let numbers: Vec<u128> = fields
            .map(|f| f.parse::<u128>().map_err(|e| format!("{line:?}: {e}")))
            .collect::<Result<_, _>>()?;
        numbers
            .try_into()
            .map_err(|_| format!("application: {line:?} is not {word} and {N} numbers"))
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_one(side: Side, series: usize, options: &Options) -> Result<Measured, String> {
    let prometheus = peers::prometheus()?;
    let prom_proxy = proxy::Proxy::start(prometheus.addr).map_err(|e| e.to_string())?;
    // (c): the application talks to the Collector through `app_proxy`, the Collector to
    // Prometheus through `prom_proxy`; (a) and (b) talk to Prometheus through `prom_proxy`.
    let collector = match side {
        Side::Collector => Some(peers::collector(&format!(
            "http://{}/api/v1/write",
            prom_proxy.addr
        ))?),
        _ => None,
    };
    let app_proxy = match &collector {
        Some(c) => Some(proxy::Proxy::start(c.addr).map_err(|e| e.to_string())?),
        None => None,
    };
    let first_hop = app_proxy.as_ref().unwrap_or(&prom_proxy);
    let endpoint = match side {
        Side::Prompush => format!("http://{}/api/v1/write", first_hop.addr),
        Side::Otlp => format!("http://{}/api/v1/otlp/v1/metrics", first_hop.addr),
        Side::Collector => format!("http://{}/v1/metrics", first_hop.addr),
    };
    let mut app = AppProcess::start(side, series, &endpoint, options.gzip)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let prometheus_url = format!("http://{}", prometheus.addr);

    let mut pushes = Vec::new();
    for k in 1..=options.pushes + 1 {
        let (app_sent_before, _) = first_hop.read();
        let (prom_sent_before, _) = prom_proxy.read();
        let collector_cpu_before = collector
            .as_ref()
            .and_then(|c| usage::other_cpu_nanos(c.pid()));
        let appended_before = samples_appended(&client, &prometheus_url)
            .ok_or("prometheus: /metrics does not answer")?;

        app.send("push")?;
        let [t0] = app.expect("t0")?;
        let query = format!("count({{__name__=~\"sbs_c[0-9]+_total\"}} == {k})");
        let (polls, ready_at) =
            poll_until(&client, &prometheus_url, appended_before, &query, series)?;
        let queryable_ns = ready_at.saturating_sub(t0);
        let [cpu_ns, wall_ns] = app.expect("pushed")?;

        let (app_sent_after, _) = first_hop.read();
        let (prom_sent_after, _) = prom_proxy.read();
        let push = Push {
            cpu_ns,
            wall_ns,
            queryable_ns,
            polls,
            app_bytes: app_sent_after - app_sent_before,
            collector_bytes: collector
                .as_ref()
                .map(|_| prom_sent_after - prom_sent_before),
            collector_cpu_ns: match (&collector, collector_cpu_before) {
                (Some(c), Some(before)) => {
                    usage::other_cpu_nanos(c.pid()).map(|after| after.saturating_sub(before))
                }
                _ => None,
            },
            collector_rss_kib: collector
                .as_ref()
                .and_then(|c| usage::other_memory_kib(c.pid(), "VmRSS")),
        };
        eprintln!(
            "   push {k}{}: cpu {:.1} ms, push {:.1} ms, queryable {:.1} ms ({} polls), {} bytes{}",
            if k == 1 { " (warm-up)" } else { "" },
            push.cpu_ns as f64 / 1e6,
            push.wall_ns as f64 / 1e6,
            push.queryable_ns as f64 / 1e6,
            push.polls,
            push.app_bytes,
            match (push.collector_bytes, push.collector_cpu_ns) {
                (Some(b), Some(c)) => format!(
                    "; collector: {b} bytes out, cpu {:.0} ms, rss {} KiB",
                    c as f64 / 1e6,
                    push.collector_rss_kib.unwrap_or(0)
                ),
                _ => String::new(),
            }
        );
        pushes.push(push);
        // Timestamps of consecutive pushes are milliseconds apart at least; keep them
        // clearly apart for every side.
        std::thread::sleep(Duration::from_millis(100));
    }
    app.send("quit")?;
    let [rss_kib] = app.expect("rss")?;
    let collector_peak_kib = collector
        .as_ref()
        .and_then(|c| usage::other_memory_kib(c.pid(), "VmHWM"));
    Ok(Measured {
        side,
        series,
        warm_up: pushes.remove(0),
        pushes,
        app_peak_rss_kib: rss_kib as u64,
        collector_peak_rss_kib: collector_peak_kib,
    })
}

/// Samples Prometheus has appended to its head so far (`/metrics`), every type; the
/// counter appears with the first append, so its absence is 0.
fn samples_appended(client: &reqwest::blocking::Client, base: &str) -> Option<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    appended_in(&text)
}

/// The sum of `prometheus_tsdb_head_samples_appended_total` (every `type`) in an
/// exposition; `None` if a value does not parse.
fn appended_in(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("prometheus_tsdb_head_samples_appended_total") {
            let value: f64 = rest.rsplit(' ').next()?.parse().ok()?;
            total += value;
        }
    }
    Some(total)
}

/// Waits until the push is queryable, polling every 10 ms; the number of polls and the
/// wall-clock time (Unix ns) of the answer that showed it.
///
/// The signal is Prometheus' own count of appended samples (`/metrics`), which it raises
/// after the samples of a request are in the head, where queries see them: a query that
/// counts 100,000 series takes hundreds of milliseconds on this machine and would set
/// the resolution. `query` (every series at the push's value) then confirms it, polled
/// until it does.
fn poll_until(
    client: &reqwest::blocking::Client,
    base: &str,
    appended_before: f64,
    query: &str,
    want: usize,
) -> Result<(u32, u128), String> {
    let start = Instant::now();
    let mut polls = 0;
    let mut ready = None;
    while start.elapsed() < QUERYABLE_TIMEOUT {
        polls += 1;
        if let Some(now) = samples_appended(client, base) {
            if now - appended_before >= want as f64 {
                ready = Some(usage::unix_nanos());
                break;
            }
        }
        std::thread::sleep(POLL_EVERY);
    }
    let full = format!("{base}/api/v1/query?query={}", percent_encode(query));
    let mut last = String::new();
    while start.elapsed() < QUERYABLE_TIMEOUT {
        if let Ok(response) = client.get(&full).send() {
            let now = usage::unix_nanos();
            last = response.text().unwrap_or_default();
            if scalar_of(&last) == Some(want as f64) {
                // Should the appended count have run ahead of the data, the query's
                // answer is the time.
                return Ok((polls, ready.unwrap_or(now)));
            }
        }
        polls += 1;
        std::thread::sleep(POLL_EVERY);
    }
    Err(format!(
        "{query} did not reach {want} in {QUERYABLE_TIMEOUT:?}; last answer {last}"
    ))
}

/// The single value of an instant vector answer; `None` when the vector is empty.
fn scalar_of(body: &str) -> Option<f64> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_samples_add_up_over_types_and_are_zero_before_the_first_append() {
        let text = "# HELP prometheus_tsdb_head_samples_appended_total Total.\n\
                    prometheus_tsdb_head_samples_appended_total{type=\"float\"} 10000\n\
                    prometheus_tsdb_head_samples_appended_total{type=\"histogram\"} 2\n\
                    prometheus_tsdb_head_series 10001\n";
        assert_eq!(appended_in(text), Some(10002.0));
        assert_eq!(appended_in("prometheus_tsdb_head_series 0\n"), Some(0.0));
    }

    #[test]
    fn an_instant_vector_answer_gives_its_one_value_and_an_empty_one_none() {
        let one = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"100000"]}]}}"#;
        assert_eq!(scalar_of(one), Some(100000.0));
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(scalar_of(empty), None);
    }

    #[test]
    fn a_query_is_percent_encoded_for_the_url() {
        assert_eq!(
            percent_encode(r#"count({__name__=~"sbs_c[0-9]+_total"} == 2)"#),
            "count%28%7B__name__%3D~%22sbs_c%5B0-9%5D%2B_total%22%7D%20%3D%3D%202%29"
        );
    }

    #[test]
    fn options_default_to_the_issue_sizes_and_refuse_what_cannot_be_shaped() {
        let o = parse_options(&[]).expect("defaults");
        assert_eq!(o.series, [10_000, 100_000]);
        assert_eq!(o.sides, [Side::Prompush, Side::Otlp, Side::Collector]);
        assert!(o.gzip);
        let args = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(parse_options(&args("--series 150")).is_err());
        assert!(parse_options(&args("--sides a,d")).is_err());
        let o = parse_options(&args("--series 1_000 --sides c --otlp-compression none"))
            .expect("parsed");
        assert_eq!(
            (o.series, o.sides, o.gzip),
            (vec![1000], vec![Side::Collector], false)
        );
    }
}
