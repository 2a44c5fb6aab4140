//! Prometheus text metrics: requests by route and status, append latency, group sizes, tree
//! size. Plain counters behind a mutex: the server's hot path takes it once per request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the append latency histogram.
const BUCKETS_S: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    append_buckets: [u64; BUCKETS_S.len()],
    append_count: u64,
    append_sum_s: f64,
    group_requests_sum: u64,
    group_commands_sum: u64,
    tree_size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Mutex<Inner>>);

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update: the counters are still usable.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn request(&self, method: &str, route: &str, status: u16) {
        self.with(|m| {
            *m.requests
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        });
    }

    pub fn observe_append(&self, took: Duration, requests: usize, commands: usize) {
        let s = took.as_secs_f64();
        self.with(|m| {
            for (i, b) in BUCKETS_S.iter().enumerate() {
                if s <= *b {
                    m.append_buckets[i] += 1;
                }
            }
            m.append_count += 1;
            m.append_sum_s += s;
            m.group_requests_sum += requests as u64;
            m.group_commands_sum += commands as u64;
        });
    }

    pub fn set_tree_size(&self, size: u64) {
        self.with(|m| m.tree_size = size);
    }

    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            let _ = writeln!(out, "# HELP tranche_http_requests_total HTTP requests by route and status.");
            let _ = writeln!(out, "# TYPE tranche_http_requests_total counter");
            for ((method, route, status), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "tranche_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
            let _ = writeln!(out, "# HELP tranche_append_seconds Time to append one group commit.");
            let _ = writeln!(out, "# TYPE tranche_append_seconds histogram");
            for (i, b) in BUCKETS_S.iter().enumerate() {
                let _ = writeln!(out, "tranche_append_seconds_bucket{{le=\"{b}\"}} {}", m.append_buckets[i]);
            }
            let _ = writeln!(out, "tranche_append_seconds_bucket{{le=\"+Inf\"}} {}", m.append_count);
            let _ = writeln!(out, "tranche_append_seconds_sum {}", m.append_sum_s);
            let _ = writeln!(out, "tranche_append_seconds_count {}", m.append_count);
            let _ = writeln!(out, "# HELP tranche_group_requests_total Requests written by group commits.");
            let _ = writeln!(out, "# TYPE tranche_group_requests_total counter");
            let _ = writeln!(out, "tranche_group_requests_total {}", m.group_requests_sum);
            let _ = writeln!(out, "# HELP tranche_group_commands_total Records submitted to group commits.");
            let _ = writeln!(out, "# TYPE tranche_group_commands_total counter");
            let _ = writeln!(out, "tranche_group_commands_total {}", m.group_commands_sum);
            let _ = writeln!(out, "# HELP tranche_tree_size Records in the journal.");
            let _ = writeln!(out, "# TYPE tranche_tree_size gauge");
            let _ = writeln!(out, "tranche_tree_size {}", m.tree_size);
            out
        })
    }
}
