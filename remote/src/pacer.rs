//! The Pacer: one token bucket per account, shared by everything in the process that uses that
//! account. It hands tokens out by priority (Interactive, then Upload, then Background, then
//! Bulk), pauses the whole bucket when the provider says "flood", and applies the retry policy
//! by error kind.
//! It owns rate, order, pauses and retries; it must not know any provider's wire format (it
//! only sees [`RemoteError`]s) and never sees or logs credentials.
//!
//! Callers choose a priority without touching the `Remote` trait:
//! `pacer::with_priority(Priority::Background, remote.list(&dir)).await`.
//! Providers call [`Pacer::call`] around each request, or [`Pacer::retry`] around a group of
//! requests that each call [`Pacer::acquire`] themselves.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::health::Health;
use crate::sync::lock;
use crate::RemoteError;

/// Who is waiting: a higher priority (smaller value) gets the next token first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Reads and metadata a user is waiting for.
    Interactive = 0,
    /// Write-back of file contents.
    Upload = 1,
    /// Listing refreshes, prefetch, anything nobody waits for.
    Background = 2,
    /// Transfer and backup jobs: they may take every token nobody else wants, and never
    /// starve a mount's reads or its write-back.
    Bulk = 3,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `fut` with every paced call inside it made at `priority`.
pub async fn with_priority<F: Future>(priority: Priority, fut: F) -> F::Output {
    PRIORITY.scope(priority, fut).await
}

/// `fut` at the priority of the task that calls this, wherever it is later spawned: a task
/// priority does not cross `tokio::spawn` on its own.
pub fn carry<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let priority = explicit_priority();
    async move {
        match priority {
            Some(p) => with_priority(p, fut).await,
            None => fut.await,
        }
    }
}

/// The priority set by an enclosing [`with_priority`], if any.
pub fn explicit_priority() -> Option<Priority> {
    PRIORITY.try_with(|p| *p).ok()
}

/// The priority of the current task: the innermost [`with_priority`], else Interactive.
pub fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Interactive)
}

/// Rate and retry settings of one bucket.
#[derive(Clone, Debug)]
pub struct PacerConfig {
    /// Sustained calls per second (tokens added per second).
    pub calls_per_second: f64,
    /// Tokens that may pile up while idle (calls allowed back to back).
    pub burst: u32,
    /// The first call waits one interval: the service's allowance is shared with the command
    /// that ran just before, whose last call may have been a moment ago.
    pub starts_empty: bool,
    /// How long to pause the bucket on `Throttled` without a `retry_after`.
    pub flood_backoff: Duration,
    /// Retries of one call (Throttled or Transient) before giving up.
    pub max_retries: u32,
    /// First delay after a transient error; doubles each time.
    pub backoff_initial: Duration,
    /// Longest delay after a transient error.
    pub backoff_max: Duration,
}

impl PacerConfig {
    /// 1Fichier: about 2 calls/s (1.8, so network jitter never bunches two calls into a
    /// flood at the service's 2/s), no burst and an empty bucket at start (the service's
    /// allowance is shared with the command that ran just before: a fresh process calling at
    /// once was throttled and paid a 30 s flood pause), 30 s after "Flood detected".
    pub fn onefichier() -> Self {
        Self {
            calls_per_second: 1.8,
            burst: 1,
            starts_empty: true,
            flood_backoff: Duration::from_secs(30),
            max_retries: 10,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self::onefichier()
    }
}

/// The bucket's state, behind one lock.
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    /// Waiting callers, best first: (priority, arrival number).
    queue: BTreeSet<(Priority, u64)>,
    next_arrival: u64,
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        if now > self.refilled_at {
            let earned = (now - self.refilled_at).as_secs_f64() * rate;
            self.tokens = (self.tokens + earned).min(burst);
            self.refilled_at = now;
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq)]
enum AfterFailure {
    FailNow,
    GiveUp,
    PauseBucket(Duration),
    Sleep(Duration),
}

/// A token bucket with priorities and the retry policy; share it as `Arc<Pacer>`.
pub struct Pacer {
    config: PacerConfig,
    bucket: Mutex<Bucket>,
    changed: Notify,
    jitter_seed: RandomState,
    jitter_counter: AtomicU64,
    /// Whether the account's endpoint answers, from every attempt made here.
    health: Health,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn accounts() -> &'static Mutex<HashMap<String, Weak<Pacer>>> {
    static ACCOUNTS: OnceLock<Mutex<HashMap<String, Weak<Pacer>>>> = OnceLock::new();
    ACCOUNTS.get_or_init(Default::default)
}

impl Pacer {
    /// A new bucket, full (`burst` tokens ready) unless it `starts_empty`.
    pub fn new(config: PacerConfig) -> Arc<Self> {
        let full = f64::from(config.burst.max(1));
        let bucket = Bucket {
            tokens: if config.starts_empty { 0.0 } else { full },
            refilled_at: Instant::now(),
            paused_until: None,
            queue: BTreeSet::new(),
            next_arrival: 0,
        };
        Arc::new(Self {
            config,
            bucket: Mutex::new(bucket),
            changed: Notify::new(),
            jitter_seed: RandomState::new(),
            jitter_counter: AtomicU64::new(0),
            health: Health::default(),
        })
    }

    /// The process-wide bucket of `account`, created with `config` on first use. `account` is
    /// a non-secret identifier (providers pass a fingerprint of the key, never the key).
    pub fn for_account(account: &str, config: PacerConfig) -> Arc<Self> {
        let mut map = lock(accounts());
        if let Some(pacer) = map.get(account).and_then(Weak::upgrade) {
            return pacer;
        }
        map.retain(|_, weak| weak.strong_count() > 0);
        let pacer = Self::new(config);
        map.insert(account.to_string(), Arc::downgrade(&pacer));
        pacer
    }

    /// Whether the account answers, as every attempt through this Pacer found.
    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn config(&self) -> &PacerConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Bucket> {
        lock(&self.bucket)
    }

    /// Stops handing out tokens to anyone until `until` (a later pause wins).
    pub fn pause_until(&self, until: Instant) {
        let mut bucket = self.lock();
        if bucket.paused_until.is_some_and(|current| current >= until) {
            return;
        }
        bucket.paused_until = Some(until);
        bucket.tokens = bucket.tokens.min(1.0);
        bucket.refilled_at = until;
        drop(bucket);
        self.changed.notify_waiters();
    }

    /// Waits for a token at the current task's priority.
    pub async fn acquire(&self) {
        let ticket = self.enqueue(current_priority());
        let _leave = LeaveQueueOnDrop {
            pacer: self,
            ticket,
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.try_take(ticket) {
                Ok(()) => return,
                Err(Some(at)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
                Err(None) => changed.await,
            }
        }
    }

    fn enqueue(&self, priority: Priority) -> (Priority, u64) {
        let mut bucket = self.lock();
        let ticket = (priority, bucket.next_arrival);
        bucket.next_arrival += 1;
        bucket.queue.insert(ticket);
        drop(bucket);
        // A newcomer may now be first in line.
        self.changed.notify_waiters();
        ticket
    }

    fn leave_queue(&self, ticket: (Priority, u64)) {
        let removed = self.lock().queue.remove(&ticket);
        if removed {
            self.changed.notify_waiters();
        }
    }

    /// Takes a token if `ticket` is first in line and one is ready; otherwise says when to
    /// look again (`None`: when the line changes).
    fn try_take(&self, ticket: (Priority, u64)) -> Result<(), Option<Instant>> {
        let mut bucket = self.lock();
        if bucket.queue.first() != Some(&ticket) {
            return Err(None);
        }
        let now = Instant::now();
        if let Some(until) = bucket.paused_until {
            if until > now {
                return Err(Some(until));
            }
            bucket.paused_until = None;
        }
        let rate = self.config.calls_per_second;
        if !(rate > 0.0 && rate.is_finite()) {
            bucket.queue.remove(&ticket);
            return Ok(());
        }
        bucket.refill(now, rate, f64::from(self.config.burst.max(1)));
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.queue.remove(&ticket);
            drop(bucket);
            self.changed.notify_waiters();
            return Ok(());
        }
        let missing = (1.0 - bucket.tokens) / rate;
        Err(Some(now + Duration::from_secs_f64(missing)))
    }

    /// Runs `op` once per token until it succeeds or the retry policy gives up.
    pub async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        self.run(what, true, op).await
    }

    /// Like [`Pacer::call`] but takes no token itself: for a group of requests that each call
    /// [`Pacer::acquire`].
    pub async fn retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        self.run(what, false, op).await
    }

    async fn run<T, F, Fut>(&self, what: &str, paced: bool, mut op: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        let mut failures = 0u32;
        loop {
            if paced {
                self.acquire().await;
            }
            let err = match op().await {
                Ok(value) => {
                    self.health.answered();
                    return Ok(value);
                }
                Err(err) => err,
            };
            self.health.attempt_failed(&err);
            failures += 1;
            match self.after_failure(&err, failures) {
                AfterFailure::FailNow => {
                    log_failure(what, &err);
                    return Err(err);
                }
                AfterFailure::GiveUp => {
                    tracing::warn!(call = what, attempts = failures, error = %err, "giving up after retries");
                    return Err(err);
                }
                AfterFailure::PauseBucket(wait) => {
                    tracing::debug!(call = what, attempt = failures, ?wait, error = %err, "throttled; pausing every caller of this account");
                    self.pause_until(Instant::now() + wait);
                    if !paced {
                        tokio::time::sleep(wait).await;
                    }
                }
                AfterFailure::Sleep(wait) => {
                    tracing::debug!(call = what, attempt = failures, ?wait, error = %err, "transient failure; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn after_failure(&self, err: &RemoteError, failures: u32) -> AfterFailure {
        let retryable = err.is_retryable();
        if !retryable {
            return AfterFailure::FailNow;
        }
        if failures > self.config.max_retries {
            return AfterFailure::GiveUp;
        }
        match err {
            RemoteError::Throttled { retry_after, .. } => {
                AfterFailure::PauseBucket(retry_after.unwrap_or(self.config.flood_backoff))
            }
            _ => AfterFailure::Sleep(self.backoff(failures)),
        }
    }

    /// Capped exponential backoff with jitter: a random point in the upper half of
    /// `initial * 2^(failures-1)`, at most `backoff_max`.
    fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << exp)
            .min(self.config.backoff_max);
        let n = self.jitter_counter.fetch_add(1, Ordering::Relaxed);
        let fraction = (self.jitter_seed.hash_one(n) % 1000) as f64 / 1000.0;
        full.mul_f64(0.5 + fraction / 2.0)
    }
}

fn log_failure(what: &str, err: &RemoteError) {
    match err {
        RemoteError::Auth(_) | RemoteError::Permanent(_) | RemoteError::NoSpace(_) => {
            tracing::warn!(call = what, error = %err, "failed; not retrying")
        }
        _ => tracing::debug!(call = what, error = %err, "failed; not retrying"),
    }
}

/// Takes a caller out of the line when its `acquire` ends or is cancelled.
struct LeaveQueueOnDrop<'a> {
    pacer: &'a Pacer,
    ticket: (Priority, u64),
}

impl Drop for LeaveQueueOnDrop<'_> {
    fn drop(&mut self) {
        self.pacer.leave_queue(self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn config(rate: f64, burst: u32) -> PacerConfig {
        PacerConfig {
            calls_per_second: rate,
            burst,
            starts_empty: false,
            flood_backoff: Duration::from_secs(1),
            max_retries: 3,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_after_the_burst() {
        let pacer = Pacer::new(config(2.0, 1));
        let start = Instant::now();
        for _ in 0..5 {
            pacer.acquire().await;
        }
        // One immediate, then one every 0.5 s.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn burst_allows_back_to_back_calls() {
        let pacer = Pacer::new(config(2.0, 3));
        let start = Instant::now();
        for _ in 0..3 {
            pacer.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    /// A priority crosses `tokio::spawn` only when carried.
    #[tokio::test]
    async fn carry_keeps_the_priority_across_spawn() {
        let lost = with_priority(Priority::Bulk, async {
            tokio::spawn(async { current_priority() }).await.unwrap()
        })
        .await;
        assert_eq!(lost, Priority::Interactive);
        let kept = with_priority(Priority::Bulk, async {
            tokio::spawn(carry(async { current_priority() }))
                .await
                .unwrap()
        })
        .await;
        assert_eq!(kept, Priority::Bulk);
    }

    #[tokio::test(start_paused = true)]
    async fn higher_priority_waiters_go_first() {
        let pacer = Pacer::new(config(1.0, 1));
        pacer.acquire().await; // empty the bucket
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for priority in [
            Priority::Bulk,
            Priority::Background,
            Priority::Upload,
            Priority::Interactive,
        ] {
            let pacer = pacer.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(with_priority(priority, async move {
                pacer.acquire().await;
                order.lock().unwrap().push(priority);
            })));
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order,
            [
                Priority::Interactive,
                Priority::Upload,
                Priority::Background,
                Priority::Bulk
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_pauses_every_caller() {
        let pacer = Pacer::new(config(100.0, 10));
        let attempts = AtomicU32::new(0);
        let start = Instant::now();
        let throttled = pacer.call("flooded", || async {
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(RemoteError::Throttled {
                    message: "Flood detected #374".into(),
                    retry_after: None,
                })
            } else {
                Ok(())
            }
        });
        let other = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            pacer
                .call("bystander", || async {
                    Ok::<_, RemoteError>(Instant::now())
                })
                .await
        };
        let (flooded, bystander) = tokio::join!(throttled, other);
        flooded.unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        // flood_backoff is 1 s: the bystander also waited for the pause to end.
        assert!(bystander.unwrap() - start >= Duration::from_secs(1));
        assert!(start.elapsed() >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_honours_retry_after() {
        let pacer = Pacer::new(config(100.0, 10));
        let attempts = AtomicU32::new(0);
        let start = Instant::now();
        pacer
            .call("x", || async {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(RemoteError::Throttled {
                        message: "429".into(),
                        retry_after: Some(Duration::from_secs(7)),
                    })
                } else {
                    Ok(())
                }
            })
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_with_backoff() {
        let pacer = Pacer::new(config(100.0, 10));
        let attempts = AtomicU32::new(0);
        let start = Instant::now();
        let value = pacer
            .call("flaky", || async {
                if attempts.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(RemoteError::Transient("reset".into()))
                } else {
                    Ok(42)
                }
            })
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
        // Three sleeps of at least half of 200, 400, 800 ms.
        assert!(start.elapsed() >= Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_give_up_after_max_retries() {
        let pacer = Pacer::new(config(100.0, 10));
        let attempts = AtomicU32::new(0);
        let result: Result<(), _> = pacer
            .call("down", || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(RemoteError::Transient("503".into()))
            })
            .await;
        assert!(matches!(result, Err(RemoteError::Transient(_))));
        assert_eq!(attempts.load(Ordering::SeqCst), 4); // first try + 3 retries
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_fail_fast() {
        let pacer = Pacer::new(config(100.0, 10));
        for err in [
            RemoteError::Permanent("bad".into()),
            RemoteError::Auth("key refused".into()),
            RemoteError::NotFound("x".into()),
        ] {
            let attempts = AtomicU32::new(0);
            let mut once = Some(err);
            let start = Instant::now();
            let result: Result<(), _> = pacer
                .call("x", || {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    let err = once
                        .take()
                        .unwrap_or(RemoteError::Permanent("again".into()));
                    async move { Err(err) }
                })
                .await;
            assert!(result.is_err());
            assert_eq!(attempts.load(Ordering::SeqCst), 1);
            assert_eq!(start.elapsed(), Duration::ZERO);
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let pacer = Pacer::new(config(1.0, 1));
        for failures in 1..=12u32 {
            let full = Duration::from_millis(200)
                .saturating_mul(1 << (failures - 1))
                .min(Duration::from_secs(30));
            let got = pacer.backoff(failures);
            assert!(
                got >= full / 2 && got <= full,
                "{failures}: {got:?} vs {full:?}"
            );
        }
    }

    #[test]
    fn accounts_share_one_bucket() {
        let a = Pacer::for_account("test-account-a", config(1.0, 1));
        let b = Pacer::for_account("test-account-a", config(5.0, 5));
        let c = Pacer::for_account("test-account-c", config(1.0, 1));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_waiters_leave_the_line() {
        let pacer = Pacer::new(config(1.0, 1));
        pacer.acquire().await;
        // A background waiter gives up; an interactive one must not wait behind it.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(100),
            with_priority(Priority::Interactive, pacer.acquire()),
        );
        assert!(cancelled.await.is_err());
        let start = Instant::now();
        with_priority(Priority::Background, pacer.acquire()).await;
        assert!(start.elapsed() <= Duration::from_secs(1));
    }
}
