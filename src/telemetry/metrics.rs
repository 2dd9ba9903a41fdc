//! Request figures for `/metrics`: a latency histogram per route class and status class, recorded by the request
//! frame. Everything else `/metrics` shows is read, when scraped, from the counters each part keeps itself.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What kind of request, for the `route` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteClass {
    /// `GET /{slug}`.
    Redirect,
    /// `/api/…`.
    Api,
    /// The admin UI, sign-in, static assets and pages.
    Ui,
    /// Health and readiness probes, and `/metrics`.
    Probe,
}

impl RouteClass {
    const ALL: [RouteClass; 4] = [Self::Redirect, Self::Api, Self::Ui, Self::Probe];

    fn label(self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Api => "api",
            Self::Ui => "ui",
            Self::Probe => "probe",
        }
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Latency buckets in seconds: a cached redirect takes well under a millisecond, a page a few.
const BUCKETS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: &'static str,
}

/// Request latencies by route class and status class. Cheap to clone (clones share figures).
#[derive(Clone)]
pub struct RequestMetrics {
    family: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// One histogram per (route class, status class), looked up once here rather than hashed per request.
    handles: Vec<Histogram>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let family: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let mut handles = Vec::with_capacity(RouteClass::ALL.len() * STATUS_CLASSES.len());
        for class in RouteClass::ALL {
            for status in STATUS_CLASSES {
                handles.push(family.get_or_create(&RequestLabels { route: class.label(), status }).clone());
            }
        }
        Self { family, handles }
    }
}

impl RequestMetrics {
    /// Records one request of `class` answered with `status` after `seconds`.
    pub fn observe(&self, class: RouteClass, status: u16, seconds: f64) {
        let status_class = usize::from(status / 100).clamp(1, 5) - 1;
        let index = class as usize * STATUS_CLASSES.len() + status_class;
        if let Some(histogram) = self.handles.get(index) {
            histogram.observe(seconds);
        }
    }

    /// Adds the histograms to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "blink_http_request_duration_seconds",
            "Time from request to response, by route class and status class",
            self.family.clone(),
        );
    }
}
