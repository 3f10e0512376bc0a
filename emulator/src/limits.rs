//! Throttling and fault injection: the per-key token bucket, the IP flood lock, the per-folder
//! listing interval and random faults (error statuses, dropped connections, "Please wait").

use axum::{
    body::{Body, Bytes},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use rand::Rng;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{config::Config, html};

/// A fault injected instead of the real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Status(StatusCode),
    /// Close the connection without sending a response.
    Drop,
    /// end.pl only: the HTML "Please wait" page instead of the JSON report.
    PleaseWait,
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        match self {
            Fault::Status(code) => (
                code,
                Html(html::error_page("Erreur temporaire / Temporary error")),
            )
                .into_response(),
            Fault::PleaseWait => Html(html::please_wait()).into_response(),
            Fault::Drop => {
                // A body that fails before its first byte makes hyper abort the connection
                // without writing the response head.
                let failing = futures_util::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other("injected connection drop"))
                });
                Response::new(Body::from_stream(failing))
            }
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct Limits {
    rate: Option<f64>,
    burst: f64,
    flood_lock: Duration,
    list_interval: Duration,
    fault_rate: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    locked_until: Mutex<HashMap<IpAddr, Instant>>,
    last_listing: Mutex<HashMap<(&'static str, i64), Instant>>,
}

impl Limits {
    pub fn new(cfg: &Config) -> Self {
        let rate = cfg.rate_limit;
        Self {
            rate,
            burst: cfg
                .rate_burst
                .unwrap_or_else(|| rate.unwrap_or(1.0).max(1.0)),
            flood_lock: cfg.flood_lock,
            list_interval: cfg.list_interval,
            fault_rate: cfg.fault_rate,
            buckets: Mutex::default(),
            locked_until: Mutex::default(),
            last_listing: Mutex::default(),
        }
    }

    /// Admits one /v1 call from `ip` (bucket keyed by the API key, else the IP). A call over the
    /// rate locks the IP for the flood-lock duration; calls during the lock are refused.
    pub fn admit_api(&self, ip: IpAddr, key: Option<&str>) -> bool {
        let now = Instant::now();
        if lock(&self.locked_until)
            .get(&ip)
            .is_some_and(|until| *until > now)
        {
            return false;
        }
        let Some(rate) = self.rate else {
            return true;
        };
        let bucket_key = key.map_or_else(|| ip.to_string(), |k| format!("key:{k}"));
        if self.take_token(bucket_key, rate, now) {
            return true;
        }
        lock(&self.locked_until).insert(ip, now + self.flood_lock);
        false
    }

    /// Admits a listing of `folder` by `endpoint` unless the same one was listed too recently.
    pub fn admit_listing(&self, endpoint: &'static str, folder: i64) -> bool {
        if self.list_interval.is_zero() {
            return true;
        }
        let now = Instant::now();
        let mut last = lock(&self.last_listing);
        match last.get(&(endpoint, folder)) {
            Some(at) if now.duration_since(*at) < self.list_interval => false,
            _ => {
                last.insert((endpoint, folder), now);
                true
            }
        }
    }

    /// Draws whether this request gets a fault, and which.
    pub fn pick_fault(&self, endpoint: &str) -> Option<Fault> {
        if self.fault_rate <= 0.0 {
            return None;
        }
        let mut rng = rand::rng();
        if !rng.random_bool(self.fault_rate) {
            return None;
        }
        let choices: &[Fault] = if endpoint == "end" {
            &END_FAULTS
        } else {
            &END_FAULTS[..4]
        };
        Some(choices[rng.random_range(0..choices.len())])
    }

    /// Forgets every lock, bucket and listing time (for `POST /_emulator/unlock`).
    pub fn reset(&self) {
        lock(&self.buckets).clear();
        lock(&self.locked_until).clear();
        lock(&self.last_listing).clear();
    }

    fn take_token(&self, key: String, rate: f64, now: Instant) -> bool {
        let mut buckets = lock(&self.buckets);
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

const END_FAULTS: [Fault; 5] = [
    Fault::Status(StatusCode::INTERNAL_SERVER_ERROR),
    Fault::Status(StatusCode::BAD_GATEWAY),
    Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    Fault::Drop,
    Fault::PleaseWait,
];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
