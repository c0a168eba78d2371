//! Tenant fair share with virtual token counters (VTC; Sheng et al., "Fairness in Serving Large
//! Language Models", OSDI 2024).
//!
//! Each tenant has a counter of service received: prefill tokens weigh 1, decode tokens 2 (the
//! paper's defaults; a decode token costs more time per token). The waiting request of the tenant
//! with the SMALLEST counter is admitted next (ties: queue order), so a tenant flooding the server
//! cannot starve one sending a trickle. When blocks run out, a running request of the tenant with the
//! LARGEST counter (its latest admitted one) is preempted. A tenant that comes back after being idle
//! has its counter lifted to the smallest counter among active tenants, so idleness is not banked as
//! credit. Tenants can be weighted (`with_weight`): service is divided by the weight.
//! O(queue length) per decision, O(1) per accounting hook (amortised hash lookups).

use std::collections::{HashMap, VecDeque};

use super::{argmax_by_key, argmin_by_key, SchedulingPolicy};
use crate::request::Request;

/// Weight of one prefill token in a tenant's counter.
const PREFILL_TOKEN_COST: f64 = 1.0;
/// Weight of one decode token in a tenant's counter.
const DECODE_TOKEN_COST: f64 = 2.0;

#[derive(Debug, Default, Clone)]
struct TenantAccount {
    /// Weighted service received (the virtual token counter).
    counter: f64,
    /// Requests of this tenant currently in the scheduler (waiting or running).
    active_requests: usize,
    /// Share weight (1 unless configured).
    weight: f64,
}

#[derive(Debug, Default, Clone)]
pub struct FairSharePolicy {
    tenants: HashMap<String, TenantAccount>,
}

impl FairSharePolicy {
    /// Gives `tenant` `weight` times the share of an unweighted tenant (weight > 0).
    pub fn with_weight(mut self, tenant: &str, weight: f64) -> Self {
        self.account(tenant).weight = weight.max(f64::MIN_POSITIVE);
        self
    }

    /// The tenant's current counter (tests, simulator reports).
    pub fn counter(&self, tenant: &str) -> f64 {
        self.tenants.get(tenant).map_or(0.0, |a| a.counter)
    }

    fn account(&mut self, tenant: &str) -> &mut TenantAccount {
        self.tenants.entry(tenant.to_string()).or_insert(TenantAccount { weight: 1.0, ..Default::default() })
    }

    fn counter_of(&self, request: &Request) -> f64 {
        self.counter(request.tenant_name())
    }
}

impl SchedulingPolicy for FairSharePolicy {
    fn name(&self) -> &'static str {
        "fair-share"
    }

    fn select_next(&self, waiting: &VecDeque<Request>) -> Option<usize> {
        argmin_by_key(waiting.iter(), |r| self.counter_of(r))
    }

    fn select_victim(&self, running: &[Request]) -> usize {
        // Never the oldest running request while others run: its victim key changes as requests are
        // served, so without this two requests could keep preempting each other (recompute loses
        // their progress). The oldest always advances, which guarantees progress.
        let skip = usize::from(running.len() > 1);
        skip + argmax_by_key(running[skip..].iter(), |r| self.counter_of(r)).unwrap_or(0)
    }

    fn on_added(&mut self, request: &Request) {
        let tenant = request.tenant_name();
        let was_idle = self.tenants.get(tenant).is_none_or(|a| a.active_requests == 0);
        if was_idle {
            let floor = self
                .tenants
                .iter()
                .filter(|(name, a)| a.active_requests > 0 && name.as_str() != tenant)
                .map(|(_, a)| a.counter)
                .fold(f64::INFINITY, f64::min);
            let account = self.account(tenant);
            if floor.is_finite() {
                account.counter = account.counter.max(floor);
            }
        }
        self.account(tenant).active_requests += 1;
    }

    fn on_scheduled(&mut self, request: &Request, num_tokens: usize) {
        let cost = if request.is_prefilling() { PREFILL_TOKEN_COST } else { DECODE_TOKEN_COST };
        let account = self.account(request.tenant_name());
        account.counter += cost * num_tokens as f64 / account.weight;
    }

    fn on_finished(&mut self, request: &Request) {
        let account = self.account(request.tenant_name());
        account.active_requests = account.active_requests.saturating_sub(1);
    }
}
