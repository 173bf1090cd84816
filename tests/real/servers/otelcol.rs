//! A real OpenTelemetry Collector (`$OTELCOL_BIN`, built by `scripts/build-peers`: the
//! OTLP receiver, the batch processor and the `prometheusremotewrite` exporter) taking
//! OTLP/HTTP on a free loopback port and remote writing to a server. The test gives the
//! exporter's options; the pipeline has no processor, so each OTLP request becomes one
//! export. Killed and its directory removed on drop.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::kind::peer_binary;
use super::real_servers::{read_log, spawn_logged, temp_dir, PORT_ATTEMPTS, READY_DEADLINE};
use crate::support::ports::free_loopback_addr;

/// A running Collector.
pub struct Collector {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    // Last field: removed after the child is gone.
    _dir: TempDir,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Collector {
    /// Starts a Collector whose `prometheusremotewrite` exporter has these options (YAML
    /// lines, `endpoint:` among them; indented here), with these feature gates enabled
    /// (`--feature-gates`); panics with its log if its OTLP port does not accept
    /// connections within 30 s.
    pub async fn start(exporter_options: &str, gates: &[&str]) -> Collector {
        let binary = peer_binary("OTELCOL_BIN");
        let dir = temp_dir("otelcol");
        let log = dir.path().join("otelcol.log");
        let config = dir.path().join("otelcol.yaml");
        let exporter: String = exporter_options
            .lines()
            .map(|line| format!("    {line}\n"))
            .collect();
        for _ in 0..PORT_ATTEMPTS {
            let addr = free_loopback_addr();
            // No own metrics server (it would take localhost:8888 for every Collector);
            // the exporter under its current name (`prometheusremotewrite` is a
            // deprecated alias that logs a warning).
            let yaml = format!(
                "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: {addr}\n\
                 exporters:\n  prometheus_remote_write:\n{exporter}\
                 service:\n  telemetry:\n    logs:\n      level: warn\n    metrics:\n      level: none\n  \
                 pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus_remote_write]\n"
            );
            std::fs::write(&config, yaml).expect("write otelcol.yaml");
            let mut command = Command::new(&binary);
            command.arg(format!("--config={}", config.display()));
            if !gates.is_empty() {
                command.arg(format!("--feature-gates={}", gates.join(",")));
            }
            let mut child = spawn_logged(&mut command, &log)
                .unwrap_or_else(|e| panic!("cannot run {binary:?}: {e}"));
            let started = Instant::now();
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let text = read_log(&log);
                    if text.contains("address already in use") {
                        break;
                    }
                    panic!("otelcol exited with {status}\n--- log ---\n{text}");
                }
                if TcpStream::connect(addr).is_ok() {
                    return Collector {
                        child,
                        addr,
                        log,
                        _dir: dir,
                    };
                }
                if started.elapsed() > READY_DEADLINE {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "otelcol not listening on {addr} within {READY_DEADLINE:?}\n--- log ---\n{}",
                        read_log(&log)
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = child.wait();
        }
        panic!("otelcol lost the race for a free port {PORT_ATTEMPTS} times")
    }

    /// Where OTLP/HTTP metrics go: `http://<addr>/v1/metrics`.
    pub fn otlp_url(&self) -> String {
        format!("http://{}/v1/metrics", self.addr)
    }

    /// Its stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}
