//! Per-tenant rate limits: requests per minute (RPM), tokens per minute (TPM) and concurrent
//! requests, enforced without locks, and reported with OpenAI's `x-ratelimit-*` headers.
//!
//! # The algorithm: GCRA
//! Each per-minute limit is a [`Gcra`] cell (the Generic Cell Rate Algorithm, as in Brandur Leach's
//! "Rate limiting, cells, and GCRA" and Redis-cell's `CL.THROTTLE`). A limit of `L` units per
//! period `P` gives an emission interval `T = P / L`; the whole state is one number, the
//! *theoretical arrival time* `TAT`, kept in nanoseconds in one `AtomicU64` and updated with
//! compare-exchange loops (no mutex, O(1) per call). A request of cost `c` (1 for RPM, its tokens
//! for TPM) conforms iff `TAT − now ≤ τ` (the burst tolerance); then `TAT := max(TAT, now) + c·T`.
//! This is the "debt" variant: the cost is not part of the test, so one request larger than the
//! burst allowance still passes when the tenant is not in debt, and the next ones wait until the
//! debt is paid back.
//!
//! With `τ = P / 30` (2 s per minute, [`DEFAULT_BURST_DIVISOR`]) every window of length `P`
//! admits at most `L·(1 + 1/30) + c_max` units (TAT can run at most `τ + c·T` ahead of `now`), i.e.
//! within 5 % of the limit plus one request; the tests check this with a simulated clock. The price
//! of that bound is that the limit is an even *rate*: a fresh tenant can burst about `L/30` units
//! at once, not the whole minute's budget (OpenAI says the same of its own limits: "60,000 requests
//! per minute may be enforced as 1,000 requests per second").
//!
//! # Two phases per request
//! The server knows a request's token count only after tokenizing it, so [`TenantLimiter`] admits
//! in two steps: [`TenantLimiter::admit_request`] takes a concurrency slot and one request unit,
//! [`TenantLimiter::reserve_tokens`] reserves prompt + `max_tokens`, and
//! [`TokenReservation::reconcile`] gives back what the generation did not use.
//!
//! # Headers
//! [`RateLimitSnapshot::headers`] writes OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
//! with resets formatted like OpenAI's (`"1s"`, `"6m0s"`, `"20ms"`, see [`format_reset`]);
//! [`RateLimitRejection`] adds `retry-after` and `retry-after-ms` and carries an OpenAI-style message.
//!
//! [`RateLimiters`] holds one [`TenantLimiter`] per tenant in an `ArcSwap`ped map: readers never
//! block, and a reload keeps the state of tenants that survive it.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::http::{HeaderName, HeaderValue};

use crate::tenants::{TenantConfig, TenantRegistry};

/// The period of RPM and TPM limits.
pub const PER_MINUTE: Duration = Duration::from_secs(60);

/// Default burst tolerance τ = period / 30 (2 s for a minute): see the module documentation.
pub const DEFAULT_BURST_DIVISOR: u32 = 30;

/// `Retry-After` of a request refused for the concurrency cap (no time-based estimate exists).
pub const CONCURRENCY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A source of time: the time since an arbitrary, fixed epoch.
pub trait Clock: Send + Sync {
    fn now(&self) -> Duration;
}

/// The real clock: time since it was made, from [`Instant`] (monotonic).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    epoch: Instant,
}

impl MonotonicClock {
    pub fn new() -> MonotonicClock {
        MonotonicClock { epoch: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> MonotonicClock {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// A clock that moves only when told to (tests and simulations).
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        let _ = self.nanos.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_add(by)));
    }

    pub fn set(&self, to: Duration) {
        self.nanos.store(nanos(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A duration in nanoseconds, saturating (u64 nanoseconds cover 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One GCRA cell: `limit` units per `period`. See the module documentation for the algorithm.
#[derive(Debug)]
pub struct Gcra {
    /// Length of the period the limit is stated over (60 s for RPM / TPM), ≥ 1 ns.
    period_ns: u64,
    /// Burst tolerance τ: how far TAT may run ahead of now for a request to still conform.
    burst_ns: u64,
    /// Units per period. Atomic so a reload changes it in place ([`Gcra::set_limit`]); the
    /// emission interval `T = period / limit` is derived from it on each call.
    limit: AtomicU64,
    /// Theoretical arrival time, ns since the clock's epoch: when the cell is fully replenished.
    tat: AtomicU64,
}

impl Gcra {
    /// `limit` units per `period` with the default burst tolerance (`period / 30`).
    pub fn new(limit: NonZeroU64, period: Duration) -> Gcra {
        Gcra::with_burst(limit, period, period / DEFAULT_BURST_DIVISOR)
    }

    /// `limit` units per minute with the default burst tolerance.
    pub fn per_minute(limit: NonZeroU64) -> Gcra {
        Gcra::new(limit, PER_MINUTE)
    }

    /// `limit` units per `period`, burst tolerance `burst` (τ).
    pub fn with_burst(limit: NonZeroU64, period: Duration, burst: Duration) -> Gcra {
        Gcra { period_ns: nanos(period).max(1), burst_ns: nanos(burst), limit: AtomicU64::new(limit.get()), tat: AtomicU64::new(0) }
    }

    /// Units per period.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period_ns)
    }

    /// The burst tolerance τ.
    pub fn burst(&self) -> Duration {
        Duration::from_nanos(self.burst_ns)
    }

    /// About how many units a fresh cell admits at one instant: `τ / T` (plus one request of any
    /// size, by the debt rule).
    pub fn burst_units(&self) -> u64 {
        self.ns_to_units(self.burst_ns, self.limit())
    }

    /// `cost · T` in nanoseconds, rounded up (never under-charges), saturating.
    fn cost_ns(&self, cost: u64, limit: u64) -> u64 {
        let ns = (u128::from(cost) * u128::from(self.period_ns)).div_ceil(u128::from(limit.max(1)));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Whole units that `ns` of emission time represent, rounded down.
    fn ns_to_units(&self, ns: u64, limit: u64) -> u64 {
        let units = u128::from(ns) * u128::from(limit) / u128::from(self.period_ns);
        u64::try_from(units).unwrap_or(u64::MAX)
    }

    /// How far TAT is ahead of `now` (0 when fully replenished).
    fn debt_ns(&self, now: Duration) -> u64 {
        self.tat.load(Ordering::Acquire).saturating_sub(nanos(now))
    }

    /// Takes `cost` units if the cell is not in debt beyond τ; otherwise `Err(retry_after)`, the
    /// time until it will be.
    pub fn try_acquire(&self, cost: u64, now: Duration) -> Result<(), Duration> {
        let now = nanos(now);
        let increment = self.cost_ns(cost, self.limit());
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let debt = tat.saturating_sub(now);
            if debt > self.burst_ns {
                return Err(Duration::from_nanos(debt - self.burst_ns));
            }
            let next = tat.max(now).saturating_add(increment);
            match self.tat.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// Takes `cost` units unconditionally (a generation that used more than it reserved).
    pub fn charge(&self, cost: u64, now: Duration) {
        let now = nanos(now);
        let increment = self.cost_ns(cost, self.limit());
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some(tat.max(now).saturating_add(increment)));
    }

    /// Gives back `cost` units: `TAT := max(TAT − cost·T, now)`, so a refund never credits beyond
    /// a full cell.
    pub fn refund(&self, cost: u64, now: Duration) {
        let now = nanos(now);
        let decrement = self.cost_ns(cost, self.limit());
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some(tat.saturating_sub(decrement).max(now)));
    }

    /// Units of the period's budget not yet used: `floor((period − min(TAT − now, period)) / T)`,
    /// in `0..=limit`. This is what `x-ratelimit-remaining-*` reports: how much more fits over the
    /// next period at the limit's rate, NOT how much fits in one burst right now (that is at most
    /// about [`Gcra::burst_units`]).
    pub fn remaining(&self, now: Duration) -> u64 {
        let free = self.period_ns - self.debt_ns(now).min(self.period_ns);
        self.ns_to_units(free, self.limit())
    }

    /// Time until the cell is fully replenished: `max(TAT − now, 0)`.
    pub fn reset_after(&self, now: Duration) -> Duration {
        Duration::from_nanos(self.debt_ns(now))
    }

    /// Time until a request conforms again: `max(TAT − now − τ, 0)`.
    pub fn retry_after(&self, now: Duration) -> Duration {
        Duration::from_nanos(self.debt_ns(now).saturating_sub(self.burst_ns))
    }

    /// Changes the limit, keeping the units already used: the debt `TAT − now` is rescaled by
    /// `old / new`, so a tenant that used 500 of 600 has 500 of its new limit used. A request
    /// racing with a reload may be charged at either limit (reloads are rare; the error is one
    /// request's cost).
    pub fn set_limit(&self, new_limit: NonZeroU64, now: Duration) {
        let new = new_limit.get();
        let old = self.limit.swap(new, Ordering::AcqRel);
        if old == new {
            return;
        }
        let now = nanos(now);
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            let debt = tat.saturating_sub(now);
            let scaled = u128::from(debt) * u128::from(old) / u128::from(new);
            Some(now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX)))
        });
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Requests,
    Tokens,
    Concurrency,
}

impl LimitKind {
    /// Label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
            LimitKind::Concurrency => "concurrency",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits of one tenant and their state. Immutable apart from its atomics: a reload makes a
/// new `TenantLimiter` that SHARES the cells and the concurrency counter of the old one (so
/// permits and reservations taken before the reload still return to the right place).
#[derive(Debug)]
pub struct TenantLimiter {
    /// Tenant name (the only identity in messages; never a key).
    name: Arc<str>,
    /// RPM cell; `None` = unlimited.
    requests: Option<Arc<Gcra>>,
    /// TPM cell; `None` = unlimited.
    tokens: Option<Arc<Gcra>>,
    /// Requests of this tenant holding a [`RequestPermit`] (counted even without a cap, for
    /// observability).
    in_flight: Arc<AtomicU32>,
    /// Concurrency cap; `None` = unlimited.
    max_concurrent: Option<u32>,
}

fn cell(limit: Option<u64>) -> Option<Arc<Gcra>> {
    limit.and_then(NonZeroU64::new).map(|l| Arc::new(Gcra::per_minute(l)))
}

/// A request unit and a concurrency slot. Dropping it releases the slot (the request unit stays
/// spent: it was a request).
#[must_use = "dropping the permit releases the concurrency slot at once"]
#[derive(Debug)]
pub struct RequestPermit {
    limiter: Arc<TenantLimiter>,
}

/// Tokens reserved for one request. [`TokenReservation::reconcile`] settles the actual count;
/// dropped without reconciling, the whole reservation stays spent (conservative: a request that
/// ended abnormally is charged what it could have used).
#[must_use = "reconcile the reservation with the tokens actually used, or the whole reservation stays spent"]
#[derive(Debug)]
pub struct TokenReservation {
    /// The TPM cell reserved from; `None` when the tenant has no token limit.
    cell: Option<Arc<Gcra>>,
    reserved: u64,
}

impl TenantLimiter {
    /// Fresh state for `config`'s limits.
    pub fn new(config: &TenantConfig) -> TenantLimiter {
        TenantLimiter {
            name: Arc::from(config.name.as_str()),
            requests: cell(config.requests_per_minute.map(u64::from)),
            tokens: cell(config.tokens_per_minute),
            in_flight: Arc::new(AtomicU32::new(0)),
            max_concurrent: config.max_concurrent_requests,
        }
    }

    /// A limiter with `config`'s limits that keeps this one's state: cells whose limit stays
    /// are shared (limit updated in place, used units kept), new limits start fresh, removed ones
    /// are dropped; the concurrency counter is shared.
    fn reconfigured(&self, config: &TenantConfig, now: Duration) -> TenantLimiter {
        let keep = |old: &Option<Arc<Gcra>>, limit: Option<u64>| match (old, limit.and_then(NonZeroU64::new)) {
            (Some(cell), Some(limit)) => {
                cell.set_limit(limit, now);
                Some(Arc::clone(cell))
            }
            (None, Some(limit)) => Some(Arc::new(Gcra::per_minute(limit))),
            (_, None) => None,
        };
        TenantLimiter {
            name: Arc::from(config.name.as_str()),
            requests: keep(&self.requests, config.requests_per_minute.map(u64::from)),
            tokens: keep(&self.tokens, config.tokens_per_minute),
            in_flight: Arc::clone(&self.in_flight),
            max_concurrent: config.max_concurrent_requests,
        }
    }

    fn has_limits_of(&self, config: &TenantConfig) -> bool {
        self.requests.as_ref().map(|c| c.limit()) == config.requests_per_minute.map(u64::from)
            && self.tokens.as_ref().map(|c| c.limit()) == config.tokens_per_minute
            && self.max_concurrent == config.max_concurrent_requests
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests holding a permit now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn max_concurrent(&self) -> Option<u32> {
        self.max_concurrent
    }

    /// Phase 1: a concurrency slot and one request unit. If either is refused nothing stays taken.
    #[allow(clippy::result_large_err, reason = "the rejection is the rare 429 path, turned into a response at once; its public fields are the contract the HTTP layer reads")]
    pub fn admit_request(self: &Arc<Self>, now: Duration) -> Result<RequestPermit, RateLimitRejection> {
        match self.max_concurrent {
            Some(cap) => {
                let mut current = self.in_flight.load(Ordering::Acquire);
                loop {
                    if current >= cap {
                        return Err(self.concurrency_rejection(cap, current, now));
                    }
                    match self.in_flight.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => break,
                        Err(actual) => current = actual,
                    }
                }
            }
            None => {
                self.in_flight.fetch_add(1, Ordering::AcqRel);
            }
        }
        // From here on, dropping `permit` gives the slot back.
        let permit = RequestPermit { limiter: Arc::clone(self) };
        if let Some(cell) = &self.requests {
            if let Err(retry_after) = cell.try_acquire(1, now) {
                drop(permit);
                return Err(self.rate_rejection(LimitKind::Requests, cell, 1, retry_after, now));
            }
        }
        Ok(permit)
    }

    /// Phase 2: reserves `tokens` (prompt + `max_tokens`). A request whose tokens alone exceed
    /// the per-minute limit can never be admitted and is refused with a message saying so (and a
    /// zero `retry_after`: waiting does not help).
    #[allow(clippy::result_large_err, reason = "the rejection is the rare 429 path, turned into a response at once; its public fields are the contract the HTTP layer reads")]
    pub fn reserve_tokens(self: &Arc<Self>, tokens: u64, now: Duration) -> Result<TokenReservation, RateLimitRejection> {
        let Some(cell) = &self.tokens else {
            return Ok(TokenReservation { cell: None, reserved: tokens });
        };
        let limit = cell.limit();
        if tokens > limit {
            let message = format!(
                "Request too large for tenant {} on tokens per min (TPM): requested {tokens} tokens (prompt + max_tokens), the per-minute limit is {limit}. Reduce the prompt or max_tokens; retrying cannot succeed.",
                self.name
            );
            return Err(RateLimitRejection { kind: LimitKind::Tokens, retry_after: Duration::ZERO, snapshot: self.snapshot(now), message });
        }
        match cell.try_acquire(tokens, now) {
            Ok(()) => Ok(TokenReservation { cell: Some(Arc::clone(cell)), reserved: tokens }),
            Err(retry_after) => Err(self.rate_rejection(LimitKind::Tokens, cell, tokens, retry_after, now)),
        }
    }

    /// The current values of the configured limits.
    pub fn snapshot(&self, now: Duration) -> RateLimitSnapshot {
        let requests = self.requests.as_deref();
        let tokens = self.tokens.as_deref();
        RateLimitSnapshot {
            limit_requests: requests.map(|c| saturate_u32(c.limit())),
            remaining_requests: requests.map(|c| saturate_u32(c.remaining(now))),
            reset_requests: requests.map(|c| c.reset_after(now)),
            limit_tokens: tokens.map(Gcra::limit),
            remaining_tokens: tokens.map(|c| c.remaining(now)),
            reset_tokens: tokens.map(|c| c.reset_after(now)),
        }
    }

    fn rate_rejection(&self, kind: LimitKind, cell: &Gcra, requested: u64, retry_after: Duration, now: Duration) -> RateLimitRejection {
        let limit = cell.limit();
        let used = limit - cell.remaining(now).min(limit);
        let (what, unit) = match kind {
            LimitKind::Tokens => ("tokens per min (TPM)", "tokens"),
            _ => ("requests per min (RPM)", "requests"),
        };
        let message = format!(
            "Rate limit reached for tenant {} on {what}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {}. (The limit is enforced as an even rate over the minute, with bursts of up to about {} {unit}.)",
            self.name,
            format_reset(retry_after),
            cell.burst_units().max(1),
        );
        RateLimitRejection { kind, retry_after, snapshot: self.snapshot(now), message }
    }

    fn concurrency_rejection(&self, cap: u32, current: u32, now: Duration) -> RateLimitRejection {
        let message = format!(
            "Concurrency limit reached for tenant {}: Limit {cap} requests in flight, In flight {current}, Requested 1. Please try again in {}.",
            self.name,
            format_reset(CONCURRENCY_RETRY_AFTER)
        );
        RateLimitRejection { kind: LimitKind::Concurrency, retry_after: CONCURRENCY_RETRY_AFTER, snapshot: self.snapshot(now), message }
    }
}

fn saturate_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl RequestPermit {
    /// The tenant's limiter.
    pub fn limiter(&self) -> &Arc<TenantLimiter> {
        &self.limiter
    }

    /// Releases the slot AND gives the request unit back: for a request refused after admission
    /// for a reason that should not count against the tenant's RPM.
    pub fn cancel(self, now: Duration) {
        if let Some(cell) = &self.limiter.requests {
            cell.refund(1, now);
        }
    }
}

impl Drop for RequestPermit {
    fn drop(&mut self) {
        self.limiter.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl TokenReservation {
    /// Tokens reserved.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Settles the reservation with the tokens actually used: refunds `reserved − actual`, or
    /// charges `actual − reserved` when the request used more than it reserved.
    pub fn reconcile(self, actual_tokens: u64, now: Duration) {
        let Some(cell) = &self.cell else { return };
        if actual_tokens < self.reserved {
            cell.refund(self.reserved - actual_tokens, now);
        } else if actual_tokens > self.reserved {
            cell.charge(actual_tokens - self.reserved, now);
        }
    }
}

/// Values of a tenant's configured limits at one instant (`None` where no limit is configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitSnapshot {
    pub limit_requests: Option<u32>,
    /// See [`Gcra::remaining`].
    pub remaining_requests: Option<u32>,
    /// Time until the requests budget is fully replenished.
    pub reset_requests: Option<Duration>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_tokens: Option<Duration>,
}

impl RateLimitSnapshot {
    /// OpenAI's `x-ratelimit-*` headers for the configured limits.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(6);
        let mut push = |name: &'static str, value: HeaderValue| out.push((HeaderName::from_static(name), value));
        if let Some(limit) = self.limit_requests {
            push("x-ratelimit-limit-requests", HeaderValue::from(limit));
            if let Some(remaining) = self.remaining_requests {
                push("x-ratelimit-remaining-requests", HeaderValue::from(remaining));
            }
            if let Some(reset) = self.reset_requests {
                push("x-ratelimit-reset-requests", reset_value(reset));
            }
        }
        if let Some(limit) = self.limit_tokens {
            push("x-ratelimit-limit-tokens", HeaderValue::from(limit));
            if let Some(remaining) = self.remaining_tokens {
                push("x-ratelimit-remaining-tokens", HeaderValue::from(remaining));
            }
            if let Some(reset) = self.reset_tokens {
                push("x-ratelimit-reset-tokens", reset_value(reset));
            }
        }
        out
    }
}

fn reset_value(d: Duration) -> HeaderValue {
    // format_reset writes ASCII digits and unit letters only, which are always valid.
    HeaderValue::try_from(format_reset(d)).unwrap_or_else(|_| HeaderValue::from_static("0s"))
}

/// A duration the way OpenAI's reset headers write it (Go's `time.Duration` format), rounded UP
/// to whole milliseconds: `"0s"`, `"20ms"`, `"1s"`, `"1.2s"`, `"1m30.5s"`, `"6m0s"`, `"1h0m0s"`.
pub fn format_reset(d: Duration) -> String {
    let total_ms = d.as_nanos().div_ceil(1_000_000);
    if total_ms == 0 {
        return "0s".to_string();
    }
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let hours = total_ms / 3_600_000;
    let minutes = (total_ms / 60_000) % 60;
    let seconds = (total_ms / 1000) % 60;
    let millis = total_ms % 1000;
    let mut secs = seconds.to_string();
    if millis > 0 {
        let frac = format!("{millis:03}");
        secs.push('.');
        secs.push_str(frac.trim_end_matches('0'));
    }
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// A refused request: which limit, when to retry, the limits' state and an OpenAI-style message
/// naming the tenant (never a key).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RateLimitRejection {
    pub kind: LimitKind,
    /// Time until a retry can succeed; ZERO when retrying cannot help (a request larger than the
    /// per-minute token limit), in which case no `retry-after` header is sent.
    pub retry_after: Duration,
    pub snapshot: RateLimitSnapshot,
    pub message: String,
}

impl RateLimitRejection {
    /// Whether waiting can make the same request succeed.
    pub fn is_retryable(&self) -> bool {
        !self.retry_after.is_zero()
    }

    /// The snapshot's `x-ratelimit-*` headers plus `retry-after` (whole seconds, rounded up, ≥ 1)
    /// and `retry-after-ms` (rounded up, ≥ 1), the latter two only when retrying can help.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = self.snapshot.headers();
        if self.is_retryable() {
            let ms = self.retry_after.as_nanos().div_ceil(1_000_000).max(1);
            let secs = ms.div_ceil(1000).max(1);
            let value = |v: u128| HeaderValue::from(u64::try_from(v).unwrap_or(u64::MAX));
            out.push((axum::http::header::RETRY_AFTER, value(secs)));
            out.push((HeaderName::from_static("retry-after-ms"), value(ms)));
        }
        out
    }
}

/// Every tenant's limiter, keyed by tenant name; survives reloads (see [`RateLimiters::reconfigure`]).
pub struct RateLimiters {
    clock: Arc<dyn Clock>,
    /// Swapped whole on reconfigure; lookups are a lock-free load.
    limiters: ArcSwap<HashMap<String, Arc<TenantLimiter>>>,
}

impl fmt::Debug for RateLimiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiters").field("tenants", &self.limiters.load().len()).finish()
    }
}

impl RateLimiters {
    /// No tenants yet; call [`RateLimiters::reconfigure`].
    pub fn new(clock: Arc<dyn Clock>) -> RateLimiters {
        RateLimiters { clock, limiters: ArcSwap::from_pointee(HashMap::new()) }
    }

    /// Applies `registry`: tenants that stay keep their state under their new limits (a tenant
    /// whose limits did not change keeps its very limiter), new tenants start fresh, removed ones
    /// are dropped (permits they still hold release harmlessly). Readers never block. Calls are
    /// expected one at a time (the reload task); racing calls still leave a consistent map.
    pub fn reconfigure(&self, registry: &TenantRegistry) {
        let now = self.now();
        self.limiters.rcu(|current| {
            registry
                .tenants()
                .map(|t| {
                    let limiter = match current.get(&t.name) {
                        Some(old) if old.has_limits_of(t) => Arc::clone(old),
                        Some(old) => Arc::new(old.reconfigured(t, now)),
                        None => Arc::new(TenantLimiter::new(t)),
                    };
                    (t.name.clone(), limiter)
                })
                .collect::<HashMap<_, _>>()
        });
    }

    /// The limiter of `tenant`, if it is configured.
    pub fn limiter(&self, tenant: &str) -> Option<Arc<TenantLimiter>> {
        self.limiters.load().get(tenant).cloned()
    }

    /// The limiters' clock.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Number of tenants with a limiter.
    pub fn len(&self) -> usize {
        self.limiters.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiters.load().is_empty()
    }
}

#[cfg(test)]
mod tests;
