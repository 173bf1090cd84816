//! [`Core`]: what collection needs, shared by the provider, its push tasks and its
//! custom metrics: the resource, the meters (one registry per instrumentation scope)
//! and the collect functions handed to the pipelines ([`CollectFn`]) and to the custom
//! metrics ([`CollectMatchingFn`]).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;

use crate::aggregate::idle::Reader;
use crate::aggregate::Limits;
#[cfg(feature = "custom-metrics")]
use crate::custom::manage::CollectMatchingFn;
use crate::instrument::registry::Registry;
use crate::instrument::streams::StreamDefaults;
use crate::meter::ScopeMeter;
use crate::pipeline::self_metrics::{noop_meter, self_metrics_scope};
use crate::pipeline::{CollectFn, Collected};
use crate::prometheus::stale;
use crate::snapshot::Descriptor;
use crate::sync::Mutex;
use crate::Snapshot;

/// What collection needs; the push tasks hold it too.
pub(super) struct Core {
    pub(super) resource: Resource,
    pub(super) limits: Limits,
    /// What every instrument's streams start from: the views, the default
    /// histograms, the exemplar filter.
    pub(super) streams: StreamDefaults,
    pub(super) shut_down: Arc<AtomicBool>,
    pub(super) scopes: Mutex<Scopes>,
}

#[derive(Default)]
pub(super) struct Scopes {
    by_scope: HashMap<InstrumentationScope, Arc<Registry>>,
    /// Creation order, for a stable snapshot order.
    pub(super) ordered: Vec<Arc<Registry>>,
}

impl Core {
    pub(super) fn new(resource: Resource, limits: Limits) -> Self {
        Core {
            resource,
            limits,
            streams: StreamDefaults::default(),
            shut_down: Arc::new(AtomicBool::new(false)),
            scopes: Mutex::new(Scopes::default()),
        }
    }

    /// The meter of one instrumentation scope, over [`registry`](Self::registry).
    pub(super) fn meter(&self, scope: InstrumentationScope) -> Meter {
        let registry = self.registry(scope);
        Meter::new(Arc::new(ScopeMeter { registry }))
    }

    /// The instruments of one instrumentation scope, created on first use.
    pub(super) fn registry(&self, scope: InstrumentationScope) -> Arc<Registry> {
        let mut scopes = self.scopes.lock();
        match scopes.by_scope.get(&scope) {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(Registry::new(
                    scope.clone(),
                    self.limits.clone(),
                    self.streams.clone(),
                    self.shut_down.clone(),
                ));
                scopes.by_scope.insert(scope, r.clone());
                scopes.ordered.push(r.clone());
                r
            }
        }
    }

    /// The meter of prompush's own delivery metrics: one of this provider's when
    /// `enabled`, else a no-op one.
    pub(super) fn self_metrics_meter(&self, enabled: bool) -> Meter {
        if enabled {
            self.meter(self_metrics_scope())
        } else {
            noop_meter()
        }
    }

    /// Collects every instrument (what [`MeterProvider::collect`](super::MeterProvider::collect)
    /// returns).
    pub(super) fn collect_all(&self) -> Snapshot {
        self.collect_for(Reader::Other, &|_| true)
    }

    /// Collects the instruments `keep` selects for `reader`; observable callbacks run
    /// only for those.
    pub(super) fn collect_for(
        &self,
        reader: Reader,
        keep: &dyn Fn(&Descriptor) -> bool,
    ) -> Snapshot {
        let time = SystemTime::now();
        let registries: Vec<Arc<Registry>> = self.scopes.lock().ordered.clone();
        Snapshot {
            resource: self.resource.clone(),
            time,
            scopes: registries
                .iter()
                .filter_map(|r| r.collect_matching(time, reader, keep))
                .collect(),
        }
    }

    /// Push destination number `destination`'s view of the provider: everything, at
    /// every push. With an idle timeout, the synchronous series its previous push
    /// carried and this one lacks (removed for idleness) end with stale markers.
    pub(super) fn collect_fn(self: &Arc<Self>, destination: usize) -> CollectFn {
        let core = self.clone();
        let reader = Reader::Push(destination);
        if self.limits.idle.is_none() {
            return Arc::new(move || core.collect_for(reader, &|_| true).into());
        }
        let previous: Mutex<Option<Snapshot>> = Mutex::new(None);
        Arc::new(move || {
            let snapshot = core.collect_for(reader, &|_| true);
            let synchronous = stale::synchronous_only(&snapshot);
            let ending = previous
                .lock()
                .replace(synchronous)
                .and_then(|before| stale::vanished(before, &snapshot));
            Collected { snapshot, ending }
        })
    }

    /// A scrape's view of the provider: everything, as a snapshot.
    pub(super) fn collect_all_fn(self: &Arc<Self>) -> crate::scrape::CollectAll {
        let core = self.clone();
        Arc::new(move || core.collect_all())
    }

    /// The custom metrics' view of the provider: the instruments their bases select.
    #[cfg(feature = "custom-metrics")]
    pub(super) fn collect_matching_fn(self: &Arc<Self>) -> CollectMatchingFn {
        let core = self.clone();
        Arc::new(move |keep| core.collect_for(Reader::Other, keep))
    }
}
