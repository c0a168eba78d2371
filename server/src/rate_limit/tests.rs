//! Rate-limiter tests: GCRA accuracy under saturating load with an injected clock, refunds,
//! 1,000 concurrent tasks, reconfiguration, headers and messages.

use super::*;
use crate::auth::ApiKeyHash;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const MS: Duration = Duration::from_millis(1);
const MINUTE_NS: u64 = 60_000_000_000;

fn config(name: &str, rpm: Option<u32>, tpm: Option<u64>, concurrent: Option<u32>) -> TenantConfig {
    TenantConfig {
        name: name.to_string(),
        api_key_hashes: vec![ApiKeyHash::of_key(&format!("sk-secret-{name}"))],
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
        max_concurrent_requests: concurrent,
        priority: 0,
        allowed_models: vec!["*".to_string()],
        safety_profile: "default".to_string(),
    }
}

fn limiter(rpm: Option<u32>, tpm: Option<u64>, concurrent: Option<u32>) -> Arc<TenantLimiter> {
    Arc::new(TenantLimiter::new(&config("acme", rpm, tpm, concurrent)))
}

fn header<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.as_str() == name).and_then(|(_, v)| v.to_str().ok())
}

/// Admission events `(time ns, amount)` of a simulated saturating load.
#[derive(Default)]
struct Simulation {
    requests: Vec<(u64, u64)>,
    tokens: Vec<(u64, u64)>,
}

/// Attempts one request every 10 ms (simulated) for `minutes`; an admitted request reserves
/// 1–2 % of `tpm` tokens and reconciles 0.2–3 s later with an actual count in
/// [reserved / 2, reserved]. Net tokens are attributed to the admission instant.
fn simulate(limiter: &Arc<TenantLimiter>, minutes: u32, tpm: u64, seed: u64) -> Simulation {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sim = Simulation::default();
    let mut pending: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut slots: Vec<Option<(RequestPermit, TokenReservation, u64)>> = Vec::new();
    let clock = ManualClock::new();
    for _ in 0..minutes * 6000 {
        let now = clock.now();
        let now_ns = nanos(now);
        while let Some(&Reverse((due, index))) = pending.peek() {
            if due > now_ns {
                break;
            }
            pending.pop();
            if let Some((permit, reservation, actual)) = slots[index].take() {
                reservation.reconcile(actual, now);
                drop(permit);
            }
        }
        clock.advance(10 * MS);
        let Ok(permit) = limiter.admit_request(now) else { continue };
        sim.requests.push((now_ns, 1));
        let reserved = rng.gen_range(tpm / 100..=tpm / 50);
        let Ok(reservation) = limiter.reserve_tokens(reserved, now) else { continue };
        let actual = rng.gen_range(reserved / 2..=reserved);
        sim.tokens.push((now_ns, actual));
        slots.push(Some((permit, reservation, actual)));
        pending.push(Reverse((now_ns + rng.gen_range(200..=3000u64) * 1_000_000, slots.len() - 1)));
    }
    sim
}

fn per_minute(events: &[(u64, u64)], minutes: u32) -> Vec<u64> {
    let mut sums = vec![0; minutes as usize];
    for &(t, amount) in events {
        if let Some(s) = sums.get_mut((t / MINUTE_NS) as usize) {
            *s += amount;
        }
    }
    sums
}

/// Largest amount admitted in any window [t, t + 60 s) (events sorted by time; the maximum
/// is reached by a window starting at an event).
fn worst_window(events: &[(u64, u64)]) -> u64 {
    let (mut worst, mut sum, mut end) = (0, 0, 0);
    for &(t0, amount) in events {
        while end < events.len() && events[end].0 < t0 + MINUTE_NS {
            sum += events[end].1;
            end += 1;
        }
        worst = worst.max(sum);
        sum -= amount;
    }
    worst
}

/// Every minute within 5 % of `limit`, the worst sliding minute at most 5 % over, and the total
/// within 5 % of one minute's limit of `minutes · limit` (no drift).
fn assert_accurate(what: &str, events: &[(u64, u64)], minutes: u32, limit: u64) {
    let sums = per_minute(events, minutes);
    let worst = worst_window(events);
    let total: u64 = sums.iter().sum();
    let pct = |v: u64| (v as f64 / limit as f64 - 1.0) * 100.0;
    eprintln!(
        "{what}: limit {limit}/min, per minute {:?} ({}), worst 60-s window {worst} ({:+.2} %), total {total} over {minutes} min (drift {:+.2} % of one minute)",
        sums,
        sums.iter().map(|&s| format!("{:+.2} %", pct(s))).collect::<Vec<_>>().join(", "),
        pct(worst),
        (total as f64 - (limit * u64::from(minutes)) as f64) / limit as f64 * 100.0,
    );
    for (minute, &s) in sums.iter().enumerate() {
        assert!(pct(s).abs() <= 5.0, "{what}: minute {minute} admitted {s}, limit {limit}");
    }
    assert!(pct(worst) <= 5.0, "{what}: worst window {worst}, limit {limit}");
    let expected = limit * u64::from(minutes);
    assert!(total.abs_diff(expected) * 20 <= limit, "{what}: total {total} vs {expected}: drift");
}

#[test]
fn rpm_is_accurate_under_saturation() {
    let l = limiter(Some(600), None, None);
    let sim = simulate(&l, 5, 100_000, 1);
    assert_accurate("requests", &sim.requests, 5, 600);
}

#[test]
fn tpm_is_accurate_under_saturation_with_reconciliation() {
    let l = limiter(None, Some(100_000), None);
    let sim = simulate(&l, 5, 100_000, 2);
    assert_accurate("net tokens", &sim.tokens, 5, 100_000);
}

#[test]
fn rpm_and_tpm_together_are_accurate() {
    let l = limiter(Some(600), Some(250_000), Some(64));
    let sim = simulate(&l, 3, 250_000, 3);
    assert_accurate("requests (with TPM)", &sim.requests, 3, 600);
    assert_accurate("net tokens (with RPM)", &sim.tokens, 3, 250_000);
    assert_eq!(l.in_flight(), 0, "every permit was dropped");
}

#[test]
fn a_fresh_cell_bursts_then_refuses_with_retry_after() {
    let cell = Gcra::per_minute(NonZeroU64::new(600).expect("nonzero"));
    let t0 = Duration::from_secs(100);
    let mut admitted = 0;
    while cell.try_acquire(1, t0).is_ok() {
        admitted += 1;
        assert!(admitted <= 1000, "never refuses");
    }
    // τ = 2 s, T = 100 ms: 21 fit at once (TAT − now goes 0, 0.1, …, 2.0 s).
    assert_eq!(admitted, 21);
    assert_eq!(cell.burst_units(), 20);
    assert_eq!(cell.try_acquire(1, t0), Err(100 * MS));
    assert_eq!(cell.retry_after(t0), 100 * MS);
    assert_eq!(cell.reset_after(t0), 2100 * MS);
    assert_eq!(cell.remaining(t0), 579);
    assert_eq!(cell.try_acquire(1, t0 + 100 * MS), Ok(()));
    assert_eq!(cell.remaining(t0 + Duration::from_secs(60)), 600);
    // The debt rule: one request larger than the burst passes when not in debt.
    let tokens = Gcra::per_minute(NonZeroU64::new(1000).expect("nonzero"));
    assert_eq!(tokens.try_acquire(900, t0), Ok(()));
    assert!(tokens.try_acquire(1, t0).is_err());
    // Extreme costs saturate instead of overflowing.
    let tiny = Gcra::per_minute(NonZeroU64::MIN);
    tiny.charge(u64::MAX, t0);
    tiny.charge(u64::MAX, t0);
    assert_eq!(tiny.remaining(t0), 0);
    assert!(tiny.try_acquire(u64::MAX, t0).is_err());
}

#[test]
fn reconcile_refunds_exactly_and_never_beyond_full() {
    // TPM 60,000: T = 1 ms exactly, so remaining moves by whole tokens.
    let l = limiter(None, Some(60_000), None);
    let t0 = Duration::from_secs(10);
    let remaining = |now| l.snapshot(now).remaining_tokens.expect("tokens configured");
    let r = l.reserve_tokens(10_000, t0).expect("fits");
    assert_eq!(r.reserved(), 10_000);
    assert_eq!(remaining(t0), 50_000);
    r.reconcile(4_000, t0);
    assert_eq!(remaining(t0), 56_000, "refund of 6,000");
    // 2 s later the debt is back to τ; reserve 1,000 and use 2,500.
    let t1 = t0 + Duration::from_secs(2);
    assert_eq!(remaining(t1), 58_000);
    let r = l.reserve_tokens(1_000, t1).expect("fits");
    assert_eq!(remaining(t1), 57_000);
    r.reconcile(2_500, t1);
    assert_eq!(remaining(t1), 55_500, "used more than reserved: charged the difference");
    // Dropped without reconcile: the whole reservation stays spent.
    let t2 = t1 + Duration::from_millis(2_500);
    assert_eq!(remaining(t2), 58_000);
    let r = l.reserve_tokens(500, t2).expect("fits");
    drop(r);
    assert_eq!(remaining(t2), 57_500);
    // A refund after the cell replenished must not credit beyond full.
    let t3 = t2 + Duration::from_millis(500);
    let r = l.reserve_tokens(3_000, t3).expect("fits");
    let later = t3 + Duration::from_secs(12);
    assert_eq!(remaining(later), 60_000);
    r.reconcile(0, later);
    assert_eq!(remaining(later), 60_000);
    assert_eq!(l.snapshot(later).reset_tokens, Some(Duration::ZERO));
    // Partially replenished: the refund stops at full.
    let r = l.reserve_tokens(10_000, later).expect("fits");
    let t2 = later + Duration::from_secs(8);
    assert_eq!(remaining(t2), 58_000);
    r.reconcile(0, t2);
    assert_eq!(remaining(t2), 60_000);
    assert_eq!(l.reserve_tokens(1, t2).map(|r| r.reserved()).ok(), Some(1));
    assert_eq!(remaining(t2), 59_999, "no hidden credit beyond full");
}

#[test]
fn a_refused_admission_takes_nothing() {
    let l = limiter(Some(600), None, Some(1));
    let t0 = Duration::ZERO;
    let held = l.admit_request(t0).expect("first");
    assert_eq!(l.in_flight(), 1);
    let e = l.admit_request(t0).expect_err("cap of 1");
    assert_eq!(e.kind, LimitKind::Concurrency);
    assert_eq!(e.retry_after, CONCURRENCY_RETRY_AFTER);
    assert!(e.message.contains("tenant acme") && e.message.contains("Limit 1"), "{}", e.message);
    assert_eq!(l.snapshot(t0).remaining_requests, Some(599), "the refused request took no unit");
    drop(held);
    assert_eq!(l.in_flight(), 0);
    for _ in 0..20 {
        let _ = l.admit_request(t0).expect("within the burst");
    }
    let e = l.admit_request(t0).expect_err("burst spent");
    assert_eq!(e.kind, LimitKind::Requests);
    assert_eq!(l.in_flight(), 0, "the slot was given back");
    // cancel() gives the request unit back.
    let l = limiter(Some(600), None, None);
    let p = l.admit_request(t0).expect("first");
    assert_eq!(l.snapshot(t0).remaining_requests, Some(599));
    p.cancel(t0);
    assert_eq!((l.snapshot(t0).remaining_requests, l.in_flight()), (Some(600), 0));
}

#[test]
fn a_request_larger_than_the_minute_is_refused_distinctly() {
    let l = limiter(None, Some(1_000), None);
    let e = l.reserve_tokens(1_001, Duration::ZERO).expect_err("can never fit");
    assert_eq!(e.kind, LimitKind::Tokens);
    assert!(e.message.contains("requested 1001 tokens") && e.message.contains("the per-minute limit is 1000"), "{}", e.message);
    assert!(!e.is_retryable());
    let headers = e.headers();
    assert_eq!(header(&headers, "x-ratelimit-limit-tokens"), Some("1000"));
    assert_eq!(header(&headers, "retry-after"), None);
    assert_eq!(l.snapshot(Duration::ZERO).remaining_tokens, Some(1_000), "nothing was taken");
    assert!(l.reserve_tokens(1_000, Duration::ZERO).is_ok(), "exactly the limit fits");
}

#[test]
fn rejection_message_and_headers() {
    let l = limiter(Some(600), None, None);
    let t0 = Duration::from_secs(5);
    for _ in 0..21 {
        let _ = l.admit_request(t0).expect("burst");
    }
    let e = l.admit_request(t0).expect_err("refused");
    assert_eq!(e.kind.as_str(), "requests");
    assert_eq!(e.retry_after, 100 * MS);
    assert!(
        e.message.starts_with("Rate limit reached for tenant acme on requests per min (RPM): Limit 600, Used 21, Requested 1. Please try again in 100ms."),
        "{}",
        e.message
    );
    let hash = ApiKeyHash::of_key("sk-secret-acme").to_string();
    assert!(!e.message.contains("sk-secret") && !e.message.contains(&hash[7..15]), "{}", e.message);
    let h = e.headers();
    let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "retry-after", "retry-after-ms"]
    );
    assert_eq!(header(&h, "x-ratelimit-limit-requests"), Some("600"));
    assert_eq!(header(&h, "x-ratelimit-remaining-requests"), Some("579"));
    assert_eq!(header(&h, "x-ratelimit-reset-requests"), Some("2.1s"));
    assert_eq!(header(&h, "retry-after"), Some("1"));
    assert_eq!(header(&h, "retry-after-ms"), Some("100"));

    // Tokens.
    let l = limiter(Some(600), Some(60_000), None);
    let r = l.reserve_tokens(60_000, t0).expect("debt variant: fits when not in debt");
    let e = l.reserve_tokens(2_000, t0).expect_err("in debt");
    assert_eq!(e.kind, LimitKind::Tokens);
    assert!(e.message.starts_with("Rate limit reached for tenant acme on tokens per min (TPM): Limit 60000, Used 60000, Requested 2000. Please try again in 58s."), "{}", e.message);
    let h = e.headers();
    assert_eq!(header(&h, "x-ratelimit-limit-tokens"), Some("60000"));
    assert_eq!(header(&h, "x-ratelimit-remaining-tokens"), Some("0"));
    assert_eq!(header(&h, "x-ratelimit-reset-tokens"), Some("1m0s"));
    assert_eq!(header(&h, "x-ratelimit-limit-requests"), Some("600"));
    assert_eq!(header(&h, "retry-after"), Some("58"));
    assert_eq!(header(&h, "retry-after-ms"), Some("58000"));
    r.reconcile(60_000, t0);

    // No limits configured: no headers.
    assert!(limiter(None, None, Some(3)).snapshot(t0).headers().is_empty());
}

#[test]
fn retry_after_rounds_up() {
    let cases = [(Duration::from_nanos(1), "1", "1"), (100 * MS, "1", "100"), (1000 * MS, "1", "1000"), (1200 * MS, "2", "1200"), (Duration::from_micros(1_000_001), "2", "1001")];
    for (retry_after, secs, ms) in cases {
        let e = RateLimitRejection { kind: LimitKind::Requests, retry_after, snapshot: RateLimitSnapshot::default(), message: String::new() };
        let h = e.headers();
        assert_eq!((header(&h, "retry-after"), header(&h, "retry-after-ms")), (Some(secs), Some(ms)), "{retry_after:?}");
    }
}

#[test]
fn reset_format_follows_openai() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(1), "1ms"),
        (20 * MS, "20ms"),
        (999 * MS, "999ms"),
        (Duration::from_micros(999_400), "1s"),
        (Duration::from_secs(1), "1s"),
        (1200 * MS, "1.2s"),
        (1050 * MS, "1.05s"),
        (Duration::from_secs(59), "59s"),
        (Duration::from_secs(60), "1m0s"),
        (Duration::from_secs(360), "6m0s"),
        (90_500 * MS, "1m30.5s"),
        (61_001 * MS, "1m1.001s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(3723), "1h2m3s"),
    ];
    for (d, expected) in cases {
        assert_eq!(format_reset(d), expected, "{d:?}");
    }
}

#[test]
fn reconfigure_keeps_state_applies_limits_and_drops_removed() {
    let clock = Arc::new(ManualClock::new());
    clock.set(Duration::from_secs(30));
    let limiters = RateLimiters::new(clock.clone());
    let v1 = TenantRegistry::from_tenants(vec![config("a", Some(600), None, Some(2)), config("b", Some(60), None, None)]).expect("valid");
    limiters.reconfigure(&v1);
    assert_eq!(limiters.len(), 2);
    let a = limiters.limiter("a").expect("a");
    let now = limiters.now();
    for _ in 0..9 {
        let _ = a.admit_request(now).expect("within burst");
    }
    let held = a.admit_request(now).expect("within burst");
    assert_eq!(a.snapshot(now).remaining_requests, Some(590));

    // Same limits: the very same limiter.
    limiters.reconfigure(&v1);
    assert!(Arc::ptr_eq(&a, &limiters.limiter("a").expect("a")));

    let v2 = TenantRegistry::from_tenants(vec![config("a", Some(1200), Some(60_000), Some(4)), config("c", None, None, None)]).expect("valid");
    limiters.reconfigure(&v2);
    assert!(limiters.limiter("b").is_none(), "removed tenant dropped");
    assert_eq!(limiters.limiter("c").map(|c| c.snapshot(now)), Some(RateLimitSnapshot::default()));
    let a2 = limiters.limiter("a").expect("a kept");
    let s = a2.snapshot(now);
    // 10 of 600 used = 1 s of debt; at 1200 the same 10 used: remaining 1190.
    assert_eq!((s.limit_requests, s.remaining_requests), (Some(1200), Some(1190)));
    assert_eq!((s.limit_tokens, s.remaining_tokens), (Some(60_000), Some(60_000)));
    assert_eq!(a2.max_concurrent(), Some(4));
    assert_eq!(a2.in_flight(), 1, "the permit from before the reload is counted");
    drop(held);
    assert_eq!(a2.in_flight(), 0, "and released into the shared counter");

    // Lowering the limit keeps the units used: 10 used of a new limit of 20.
    let v3 = TenantRegistry::from_tenants(vec![config("a", Some(20), None, None)]).expect("valid");
    limiters.reconfigure(&v3);
    let a3 = limiters.limiter("a").expect("a");
    assert_eq!(a3.snapshot(now).remaining_requests, Some(10));
    assert_eq!(a3.snapshot(now).limit_tokens, None, "token limit removed");
    assert!(a3.reserve_tokens(u64::MAX, now).is_ok(), "no token limit");
}

#[test]
fn clocks() {
    let c = ManualClock::new();
    assert_eq!(c.now(), Duration::ZERO);
    c.advance(5 * MS);
    c.advance(5 * MS);
    assert_eq!(c.now(), 10 * MS);
    c.set(Duration::from_secs(3));
    assert_eq!(c.now(), Duration::from_secs(3));
    let m = MonotonicClock::new();
    let (a, b) = (m.now(), m.now());
    assert!(b >= a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_tasks_neither_deadlock_nor_overshoot() {
    const TASKS: u64 = 1000;
    const ROUNDS: u64 = 5;
    const CAP: u32 = 8;
    const STEP: Duration = Duration::from_micros(100);
    let clock = Arc::new(ManualClock::new());
    let l = limiter(Some(6_000), Some(600_000), Some(CAP));
    let admitted = Arc::new(AtomicU64::new(0));
    let net_tokens = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU32::new(0));
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let (clock, l, admitted, net_tokens, max_in_flight) =
            (clock.clone(), l.clone(), admitted.clone(), net_tokens.clone(), max_in_flight.clone());
        handles.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                clock.advance(STEP);
                let now = clock.now();
                let Ok(permit) = l.admit_request(now) else {
                    tokio::task::yield_now().await;
                    continue;
                };
                admitted.fetch_add(1, Ordering::SeqCst);
                max_in_flight.fetch_max(l.in_flight(), Ordering::SeqCst);
                let reserve = 1_000 + (task * 7 + round * 13) % 4_000;
                if let Ok(reservation) = l.reserve_tokens(reserve, now) {
                    tokio::task::yield_now().await;
                    max_in_flight.fetch_max(l.in_flight(), Ordering::SeqCst);
                    let actual = reserve / 2 + (task % 3) * reserve / 6;
                    net_tokens.fetch_add(actual, Ordering::SeqCst);
                    reservation.reconcile(actual, clock.now());
                }
                drop(permit);
            }
        }));
    }
    let all = async {
        for h in handles {
            h.await.expect("task panicked");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all).await.expect("deadlock: tasks did not finish in 30 s");

    let end = nanos(clock.now());
    assert_eq!(end, nanos(STEP) * TASKS * ROUNDS);
    // Any admission at time t ≤ end leaves TAT ≤ end + τ + cost·T, and TAT ≥ (units admitted)·T.
    let tau = 2_000_000_000u64;
    let max_requests = (end + tau) / 10_000_000 + 1; // T = 10 ms
    let max_tokens = (end + tau) / 100_000 + 5_000 + 1; // T = 100 µs, one reservation ≤ 5,000
    let (admitted, net_tokens) = (admitted.load(Ordering::SeqCst), net_tokens.load(Ordering::SeqCst));
    eprintln!("1000 tasks: {admitted} requests admitted (bound {max_requests}), {net_tokens} net tokens (bound {max_tokens}), max in flight {}", max_in_flight.load(Ordering::SeqCst));
    assert!(admitted <= max_requests, "{admitted} > {max_requests}");
    assert!(net_tokens <= max_tokens, "{net_tokens} > {max_tokens}");
    assert!(admitted > 0 && net_tokens > 0);
    assert!(max_in_flight.load(Ordering::SeqCst) <= CAP);
    assert_eq!(l.in_flight(), 0, "every slot was released");
}
