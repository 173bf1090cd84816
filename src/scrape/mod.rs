//! Pull as well as push: a provider's current state rendered for a scraper, through
//! [`MeterProvider::render_metrics`](crate::MeterProvider::render_metrics) from any HTTP
//! server, or served by the built-in endpoint (feature `scrape`,
//! [`MeterProviderBuilder::with_scrape_endpoint`](crate::MeterProviderBuilder::with_scrape_endpoint)).
//!
//! A scrape collects (observable callbacks run) and renders with
//! [`Exposition`]; scrapes that arrive while one is being rendered share its result,
//! so a burst of scrapers costs one collection. Recording never waits on a scrape, and
//! a scrape changes nothing a push depends on: each push destination keeps its own
//! translator and staleness tracking.

#[cfg(feature = "scrape")]
pub(crate) mod server;

use std::sync::Arc;
use std::time::Instant;

use crate::prometheus::exposition::content_type;
pub use crate::prometheus::exposition::{Escaping, Exposition, Format};
use crate::sync::Mutex;
use crate::NameTranslation;
use crate::Snapshot;

/// Collects the provider's instruments for a scrape.
pub(crate) type CollectAll = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// A rendered scrape body and the `Content-Type` to serve it with.
#[derive(Debug, Clone)]
pub struct RenderedMetrics {
    /// The format the body is in.
    pub format: Format,
    /// The `Content-Type` header value for `body`, stating the escaping of its names
    /// (`text/plain; version=0.0.4; charset=utf-8; escaping=underscores`).
    pub content_type: &'static str,
    /// The exposition text.
    pub body: Arc<str>,
}

/// What renders a provider's scrapes: shared by the built-in endpoint and
/// `render_metrics`.
pub(crate) struct Scrapes {
    collect: CollectAll,
    state: Mutex<State>,
}

struct State {
    exposition: Exposition,
    /// The latest render: a scrape that arrived before it started takes it.
    latest: Option<(Instant, Escaping, RenderedMetrics)>,
}

impl Scrapes {
    pub(crate) fn new(collect: CollectAll, translation: NameTranslation) -> Self {
        Scrapes {
            collect,
            state: Mutex::new(State {
                exposition: Exposition::new().with_name_translation(translation),
                latest: None,
            }),
        }
    }

    /// Collects and renders in `format` with `escaping`, or hands out such a render
    /// that started after this call did (another scraper's, made while this one waited
    /// its turn).
    pub(crate) fn render(&self, format: Format, escaping: Escaping) -> RenderedMetrics {
        let arrived = Instant::now();
        let mut state = self.state.lock();
        if let Some((started, latest_escaping, latest)) = &state.latest {
            if *started >= arrived && latest.format == format && *latest_escaping == escaping {
                return latest.clone();
            }
        }
        let started = Instant::now();
        let snapshot = (self.collect)();
        let body: Arc<str> = state
            .exposition
            .render_escaped(&snapshot, format, escaping)
            .into();
        let rendered = RenderedMetrics {
            format,
            content_type: content_type(format, escaping),
            body,
        };
        state.latest = Some((started, escaping, rendered.clone()));
        rendered
    }
}
