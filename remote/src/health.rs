//! Whether a provider is answering: every attempt a Pacer makes reports here, so a mount knows
//! when it is offline (the network is down, the server refuses connections, or it keeps
//! throttling or refusing the key) and when it is back. Owns that judgement; must not retry,
//! wait or fail calls itself (the Pacer and the filesystem decide what to do with it).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::sync::lock;
use crate::RemoteError;

/// Failing this long without a single success makes a remote offline (degraded before).
pub const OFFLINE_AFTER: Duration = Duration::from_secs(10);

/// How a remote is doing, as `status` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// The last attempt worked.
    #[default]
    Online,
    /// Attempts fail, for less than [`OFFLINE_AFTER`] so far.
    Degraded,
    /// Nothing has worked for [`OFFLINE_AFTER`] or more.
    Offline,
}

/// What [`Health::report`] says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    pub state: Reach,
    /// Since when attempts fail (wall clock), when they do.
    pub failing_since: Option<SystemTime>,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct State {
    failing_since: Option<(Instant, SystemTime)>,
    last_error: Option<String>,
}

/// The reachability of one account's endpoint.
#[derive(Default)]
pub struct Health {
    state: Mutex<State>,
}

impl Health {
    /// The server answered (an error that is an answer, like "not found", counts too).
    pub fn answered(&self) {
        let mut s = lock(&self.state);
        s.failing_since = None;
        s.last_error = None;
    }

    /// An attempt got `e`: unreachable, throttled or refused counts as failing; any other
    /// error is an answer.
    pub fn attempt_failed(&self, e: &RemoteError) {
        let failing = matches!(
            e,
            RemoteError::Transient(_) | RemoteError::Throttled { .. } | RemoteError::Auth(_)
        );
        if !failing {
            return self.answered();
        }
        let mut s = lock(&self.state);
        s.failing_since
            .get_or_insert_with(|| (Instant::now(), SystemTime::now()));
        s.last_error = Some(e.to_string());
    }

    pub fn report(&self) -> Reachability {
        let s = lock(&self.state);
        let state = match s.failing_since {
            None => Reach::Online,
            Some((at, _)) if at.elapsed() < OFFLINE_AFTER => Reach::Degraded,
            Some(_) => Reach::Offline,
        };
        Reachability {
            state,
            failing_since: s.failing_since.map(|(_, wall)| wall),
            last_error: s.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_degrade_answers_restore() {
        let h = Health::default();
        assert_eq!(h.report().state, Reach::Online);
        h.attempt_failed(&RemoteError::Transient("connection refused".into()));
        let r = h.report();
        assert_eq!(r.state, Reach::Degraded);
        assert!(r.failing_since.is_some() && r.last_error.is_some());
        h.attempt_failed(&RemoteError::NotFound("x".into()));
        assert_eq!(h.report(), Reachability::default());
    }
}
