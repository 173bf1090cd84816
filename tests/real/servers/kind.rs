//! Which real server a test runs against: its binary, its command line and readiness
//! path, and the facts that differ between the versions tested.
//!
//! Prometheus 3 is the primary server; Debian's Prometheus 2.42 and VictoriaMetrics 1.79
//! stay as a compatibility matrix for the cases where versions behave differently.
//! The current peers (Prometheus 3, VictoriaMetrics v1.151) are built and cached by
//! `scripts/build-peers`, which writes their paths into
//! `${XDG_CACHE_HOME:-$HOME/.cache}/prompush/peers/env`; `scripts/test` runs it and
//! sources that file. A test never skips because a binary is missing: it fails and says
//! how to get it.

use std::path::{Path, PathBuf};

/// A real server the harness can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Prometheus 3 (3.16.0) built by `scripts/build-peers`: `$PROMETHEUS3_BIN`. The
    /// primary server.
    Prometheus3,
    /// Debian 12's Prometheus 2.42: `$PROMETHEUS_BIN`, else `prometheus` on `PATH`.
    Prometheus2_42,
    /// VictoriaMetrics v1.151.0 built by `scripts/build-peers`: `$VM_CURRENT_BIN`.
    VictoriaMetrics,
    /// Debian 12's VictoriaMetrics 1.79: `$VICTORIA_METRICS_BIN`, else
    /// `victoria-metrics` on `PATH`.
    VictoriaMetrics1_79,
}

/// The message of a missing peer binary: what to run.
pub fn build_peers_hint(var: &str) -> String {
    format!(
        "{var} is not set: run scripts/build-peers, then \
         `source \"${{XDG_CACHE_HOME:-$HOME/.cache}}/prompush/peers/env\"` \
         (scripts/test does both); a real-server test never skips"
    )
}

/// The binary a peer variable names; panics with [`build_peers_hint`] when it is unset.
pub fn peer_binary(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!("{}", build_peers_hint(var)),
    }
}

/// `$var`, else `name` (looked up on `PATH`).
fn debian_binary(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(name))
}

impl Kind {
    /// A short name for messages and temporary directories.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prometheus3 => "prometheus-3",
            Kind::Prometheus2_42 => "prometheus-2.42",
            Kind::VictoriaMetrics => "victoria-metrics-current",
            Kind::VictoriaMetrics1_79 => "victoria-metrics-1.79",
        }
    }

    /// Prometheus of either version (as opposed to VictoriaMetrics).
    pub fn is_prometheus(self) -> bool {
        matches!(self, Kind::Prometheus3 | Kind::Prometheus2_42)
    }

    /// The environment variable that names the binary.
    pub fn binary_var(self) -> &'static str {
        match self {
            Kind::Prometheus3 => "PROMETHEUS3_BIN",
            Kind::Prometheus2_42 => "PROMETHEUS_BIN",
            Kind::VictoriaMetrics => "VM_CURRENT_BIN",
            Kind::VictoriaMetrics1_79 => "VICTORIA_METRICS_BIN",
        }
    }

    /// The binary; panics (never skips) when a built peer is missing.
    pub fn binary(self) -> PathBuf {
        match self {
            Kind::Prometheus3 | Kind::VictoriaMetrics => peer_binary(self.binary_var()),
            Kind::Prometheus2_42 => debian_binary(self.binary_var(), "prometheus"),
            Kind::VictoriaMetrics1_79 => debian_binary(self.binary_var(), "victoria-metrics"),
        }
    }

    /// What to do when the binary cannot be run.
    pub fn install_hint(self) -> String {
        match self {
            Kind::Prometheus3 | Kind::VictoriaMetrics => {
                format!("run scripts/build-peers and set {}", self.binary_var())
            }
            Kind::Prometheus2_42 | Kind::VictoriaMetrics1_79 => format!(
                "install the Debian package (scripts/test does) or set {}",
                self.binary_var()
            ),
        }
    }

    /// The path that answers 200 once the server takes writes and queries.
    pub fn ready_path(self) -> &'static str {
        if self.is_prometheus() {
            "/-/ready"
        } else {
            "/health"
        }
    }

    /// The fixed part of the command line; the harness adds the caller's flags after it.
    ///
    /// Prometheus: the config file `dir/prometheus.yml` (the harness writes it), the
    /// remote-write receiver on. VictoriaMetrics: `-search.latencyOffset=0s` (it hides
    /// the newest 30 s from queries by default) and `-search.disableCache`, so a pushed
    /// sample is readable at once (the harness also calls `/internal/force_flush`).
    pub fn base_args(self, addr: std::net::SocketAddr, dir: &Path) -> Vec<String> {
        let data = dir.join("data");
        if self.is_prometheus() {
            vec![
                format!("--config.file={}", dir.join("prometheus.yml").display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address={addr}"),
                "--web.enable-remote-write-receiver".to_owned(),
            ]
        } else {
            vec![
                format!("-httpListenAddr={addr}"),
                format!("-storageDataPath={}", data.display()),
                "-search.latencyOffset=0s".to_owned(),
                "-search.disableCache".to_owned(),
            ]
        }
    }

    /// The feature flags native histograms need: `native-histograms` on 2.42 (without
    /// it the receiver answers 500, "native histograms are disabled"); none on
    /// Prometheus 3, where ingesting them is always on (the flag is a no-op there that
    /// logs a warning).
    pub fn native_histogram_features(self) -> &'static [&'static str] {
        match self {
            Kind::Prometheus2_42 => &["native-histograms"],
            _ => &[],
        }
    }

    /// The `le` (or `quantile`) value this server stores for one scraped as `exposed`.
    /// Prometheus 3 normalises both at scrape time to its float formatting, whatever the
    /// format (`le="1"` is stored as `le="1.0"`), so a series keeps one identity across
    /// the text, OpenMetrics and protobuf formats; 2.42 stores the text as exposed.
    /// Remote write is not normalised by either: what is pushed is stored.
    pub fn scraped_le(self, exposed: &str) -> String {
        let integral = exposed
            .parse::<f64>()
            .is_ok_and(|v| v.is_finite() && v.fract() == 0.0);
        if self == Kind::Prometheus3 && integral && !exposed.contains(['.', 'e', 'E']) {
            format!("{exposed}.0")
        } else {
            exposed.to_owned()
        }
    }
}
