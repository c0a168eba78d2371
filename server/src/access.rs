//! Who may call the server and how much: the access configuration (open, one API key, or a tenants
//! file), swapped atomically on reload (SIGHUP) so in-flight requests keep the snapshot they
//! started with, and the middleware that authenticates a request, applies its tenant's request and
//! concurrency limits, and hands the handler a [`RequestAccess`] (tenant, limiter, safety profile).
//!
//! Order (DESIGN.md "Server habits"): auth (401) → requests-per-minute and concurrency (429) → the
//! handler (body, safety, tokenize, tokens-per-minute 429, admission). `/health` is always open,
//! `/metrics` needs a key only when the tenants file sets `protect_metrics`. vLLM and TGI offer at
//! most one static key; per-tenant keys and limits follow OpenAI's own API (401 `invalid_api_key`,
//! 429 `rate_limit_exceeded` with `x-ratelimit-*` headers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::auth::{bearer_token, BearerError};
use crate::error::ApiError;
use crate::rate_limit::{Clock, MonotonicClock, RateLimitRejection, RateLimiters, TenantLimiter};
use crate::safety::profile::{self, SafetyProfile};
use crate::state::AppState;
use crate::tenants::{TenantConfig, TenantRegistry, TenantsFile};

/// Tenant label of requests on a server without keys.
pub const ANONYMOUS: &str = "anonymous";

/// Routes that need no key, ever.
const OPEN_ROUTES: &[&str] = &["/health"];

/// Routes whose requests count against requests-per-minute and concurrency limits.
const LIMITED_ROUTES: &[&str] = &["/v1/chat/completions", "/v1/completions"];

/// Where the access configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessMode {
    /// No keys: every request is anonymous (the server says so loudly at start).
    Open,
    /// One key (`--api-key`): tenant `default`, no limits.
    SingleKey,
    /// A tenants file, reloaded on SIGHUP.
    TenantsFile(PathBuf),
}

/// Why an access configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Tenants(#[from] crate::tenants::TenantsError),
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    #[error("tenant `{tenant}` names the safety profile `{profile}`, which is neither built in ({builtins}) nor defined under [safety_profiles]")]
    UnknownProfile { tenant: String, profile: String, builtins: String },
    #[error("unknown safety profile `{0}`; the built-in profiles are {1}")]
    UnknownBuiltin(String, String),
    #[error("reload is only possible with a tenants file (the server runs {0})")]
    NotReloadable(&'static str),
}

/// One consistent access configuration.
pub struct AccessSnapshot {
    /// `None` = open server.
    pub registry: Option<TenantRegistry>,
    pub profiles: BTreeMap<String, Arc<SafetyProfile>>,
    pub protect_metrics: bool,
    /// Profile of requests without a tenant file (open server, single key).
    pub fallback_profile: Arc<SafetyProfile>,
}

impl AccessSnapshot {
    /// The safety profile of `tenant` (its own in a tenants file, the fallback otherwise).
    fn profile_for(&self, tenant: Option<&TenantConfig>, mode: &AccessMode) -> Arc<SafetyProfile> {
        match (mode, tenant) {
            (AccessMode::TenantsFile(_), Some(t)) => self.profiles.get(&t.safety_profile).cloned().unwrap_or_else(|| Arc::clone(&self.fallback_profile)),
            _ => Arc::clone(&self.fallback_profile),
        }
    }
}

/// The live access configuration and the rate limiters (which survive reloads).
pub struct AccessControl {
    mode: AccessMode,
    snapshot: ArcSwap<AccessSnapshot>,
    pub limiters: RateLimiters,
}

fn builtin_profile(name: &str) -> Result<Arc<SafetyProfile>, AccessError> {
    profile::builtin(name).map(Arc::new).ok_or_else(|| AccessError::UnknownBuiltin(name.into(), profile::BUILTIN_PROFILES.join(", ")))
}

/// Reads and checks a tenants file into a snapshot.
fn load_file(path: &Path, fallback: &str) -> Result<AccessSnapshot, AccessError> {
    let file = TenantsFile::load(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let profiles = profile::compile_all(&file.safety_profiles, base)?;
    for t in &file.tenants {
        if !profiles.contains_key(&t.safety_profile) {
            return Err(AccessError::UnknownProfile {
                tenant: t.name.clone(),
                profile: t.safety_profile.clone(),
                builtins: profile::BUILTIN_PROFILES.join(", "),
            });
        }
    }
    let fallback_profile = match profiles.get(fallback) {
        Some(p) => Arc::clone(p),
        None => builtin_profile(fallback)?,
    };
    let registry = TenantRegistry::from_tenants(file.tenants)?;
    Ok(AccessSnapshot { registry: Some(registry), profiles, protect_metrics: file.protect_metrics, fallback_profile })
}

impl AccessControl {
    /// No keys; every request runs under the built-in safety profile `profile`.
    pub fn open(profile: &str) -> Result<AccessControl, AccessError> {
        let snapshot = AccessSnapshot { registry: None, profiles: BTreeMap::new(), protect_metrics: false, fallback_profile: builtin_profile(profile)? };
        Ok(AccessControl::with(AccessMode::Open, snapshot, Arc::new(MonotonicClock::new())))
    }

    /// One API key (tenant `default`, no limits) and the built-in safety profile `profile`.
    pub fn single_key(key: &str, profile: &str) -> Result<AccessControl, AccessError> {
        let snapshot = AccessSnapshot {
            registry: Some(TenantRegistry::single_key(key)),
            profiles: BTreeMap::new(),
            protect_metrics: false,
            fallback_profile: builtin_profile(profile)?,
        };
        Ok(AccessControl::with(AccessMode::SingleKey, snapshot, Arc::new(MonotonicClock::new())))
    }

    /// A tenants file; `clock` drives the rate limiters (tests inject a manual one).
    pub fn from_file(path: &Path, clock: Arc<dyn Clock>) -> Result<AccessControl, AccessError> {
        let snapshot = load_file(path, "default")?;
        Ok(AccessControl::with(AccessMode::TenantsFile(path.to_path_buf()), snapshot, clock))
    }

    fn with(mode: AccessMode, snapshot: AccessSnapshot, clock: Arc<dyn Clock>) -> AccessControl {
        let limiters = RateLimiters::new(clock);
        if let Some(registry) = &snapshot.registry {
            limiters.reconfigure(registry);
        }
        AccessControl { mode, snapshot: ArcSwap::from_pointee(snapshot), limiters }
    }

    pub fn mode(&self) -> &AccessMode {
        &self.mode
    }

    /// The current configuration (requests hold on to the one they started with).
    pub fn snapshot(&self) -> Arc<AccessSnapshot> {
        self.snapshot.load_full()
    }

    /// Re-reads the tenants file. On any error the old configuration stays and the error says why;
    /// on success new requests see the new tenants, keys, limits and profiles at once, while
    /// tenants that kept their name keep their rate-limit state.
    pub fn reload(&self) -> Result<usize, AccessError> {
        let AccessMode::TenantsFile(path) = &self.mode else {
            return Err(AccessError::NotReloadable(match self.mode {
                AccessMode::Open => "open",
                _ => "with a single --api-key",
            }));
        };
        let snapshot = load_file(path, "default")?;
        let tenants = snapshot.registry.as_ref().map_or(0, TenantRegistry::len);
        if let Some(registry) = &snapshot.registry {
            self.limiters.reconfigure(registry);
        }
        self.snapshot.store(Arc::new(snapshot));
        Ok(tenants)
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let snapshot = self.snapshot();
        match &self.mode {
            AccessMode::Open => format!("OPEN: no API key is required, no rate limits apply (safety profile `{}`)", snapshot.fallback_profile.name),
            AccessMode::SingleKey => format!("one API key required (safety profile `{}`)", snapshot.fallback_profile.name),
            AccessMode::TenantsFile(p) => format!(
                "{} tenants from {} (reloaded on SIGHUP)",
                snapshot.registry.as_ref().map_or(0, TenantRegistry::len),
                p.display()
            ),
        }
    }
}

/// The tenant of a response, in its extensions (the request log line names it).
#[derive(Clone, Debug)]
pub struct TenantLabel(pub Arc<str>);

/// What a handler knows about the caller.
#[derive(Clone)]
pub struct RequestAccess {
    /// `None` on an open server.
    pub tenant: Option<Arc<TenantConfig>>,
    /// Tenant name for metrics and logs (`anonymous` on an open server).
    pub tenant_label: Arc<str>,
    pub limiter: Option<Arc<TenantLimiter>>,
    pub profile: Arc<SafetyProfile>,
    /// Set when an input filter flagged the request; the middleware then marks the response
    /// (`x-llmserve-safety: flagged`), whatever its shape.
    pub flagged: Arc<AtomicBool>,
}

impl RequestAccess {
    /// Access of an open server with `profile` (also what tests use).
    pub fn anonymous(profile: Arc<SafetyProfile>) -> RequestAccess {
        RequestAccess { tenant: None, tenant_label: Arc::from(ANONYMOUS), limiter: None, profile, flagged: Arc::default() }
    }

    /// 404 when the tenant may not use `model`.
    pub fn check_model(&self, model: &str) -> Result<(), ApiError> {
        match &self.tenant {
            Some(t) if !t.allows_model(model) => Err(ApiError::ModelNotAccessible { requested: model.to_string() }),
            _ => Ok(()),
        }
    }

    /// `request` with the tenant's scheduler priority and name (priority 0, no tenant when anonymous).
    pub fn tag(&self, request: llmserve_engine::EngineRequest) -> llmserve_engine::EngineRequest {
        match &self.tenant {
            Some(t) => request.with_priority(t.priority).with_tenant(t.name.clone()),
            None => request,
        }
    }
}

/// A 429 for `rejection`, counted.
pub fn rate_limited(state: &AppState, tenant: &str, rejection: RateLimitRejection) -> ApiError {
    state.metrics.rate_limited.with_label_values(&[tenant, rejection.kind.as_str()]).inc();
    let limit_type = match rejection.kind {
        crate::rate_limit::LimitKind::Tokens => "tokens",
        _ => "requests",
    };
    ApiError::RateLimited { limit_type, message: rejection.message.clone(), headers: rejection.headers() }
}

fn unauthorized(state: &AppState, reason: &'static str, message: &str) -> Response {
    state.metrics.auth_failures.with_label_values(&[reason]).inc();
    ApiError::Unauthorized { message: message.to_string() }.into_response()
}

/// The access middleware (see the module documentation).
pub async fn access_control(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let snapshot = state.access.snapshot();
    let needs_key = !OPEN_ROUTES.contains(&path.as_str()) && (path != "/metrics" || snapshot.protect_metrics);
    let limited = LIMITED_ROUTES.contains(&path.as_str());
    let mode = state.access.mode();
    let access = match (&snapshot.registry, needs_key) {
        (None, _) | (_, false) => RequestAccess::anonymous(snapshot.profile_for(None, mode)),
        (Some(registry), true) => {
            let token = match bearer_token(request.headers()) {
                Ok(t) => t,
                Err(BearerError::Missing) => {
                    return unauthorized(
                        &state,
                        "missing",
                        "you didn't provide an API key; send it in the Authorization header as `Authorization: Bearer YOUR_KEY`",
                    )
                }
                Err(BearerError::Malformed) => {
                    return unauthorized(&state, "malformed", "malformed Authorization header; expected `Authorization: Bearer YOUR_KEY`")
                }
            };
            let Some(tenant) = registry.authenticate(token) else {
                return unauthorized(&state, "invalid", "incorrect API key provided");
            };
            let limiter = state.access.limiters.limiter(&tenant.name);
            RequestAccess {
                tenant_label: Arc::from(tenant.name.as_str()),
                profile: snapshot.profile_for(Some(&tenant), mode),
                tenant: Some(tenant),
                limiter,
                flagged: Arc::default(),
            }
        }
    };
    let tenant_label = Arc::clone(&access.tenant_label);
    // Requests per minute and concurrency are taken before the body is read.
    let permit = match (&access.limiter, limited) {
        (Some(limiter), true) => match limiter.admit_request(state.access.limiters.now()) {
            Ok(permit) => Some(permit),
            Err(rejection) => {
                let mut response = rate_limited(&state, &tenant_label, rejection).into_response();
                state.metrics.tenant_requests.with_label_values(&[&tenant_label, "429"]).inc();
                response.extensions_mut().insert(TenantLabel(tenant_label));
                return response;
            }
        },
        _ => None,
    };
    let limiter = access.limiter.clone();
    let flagged = Arc::clone(&access.flagged);
    request.extensions_mut().insert(access);
    if let Some(trace) = request.extensions().get::<crate::otel::RequestTrace>() {
        trace.mark_access_checked();
    }
    let mut response = next.run(request).await;
    if flagged.load(Ordering::Relaxed) {
        response.headers_mut().insert("x-llmserve-safety", HeaderValue::from_static("flagged"));
    }
    response.extensions_mut().insert(TenantLabel(Arc::clone(&tenant_label)));
    if limited {
        state.metrics.tenant_requests.with_label_values(&[&tenant_label, response.status().as_str()]).inc();
        if let Some(limiter) = &limiter {
            // A 429 from the token limit carries its own headers; everything else gets the state now.
            if !response.headers().contains_key("x-ratelimit-limit-requests") && !response.headers().contains_key("x-ratelimit-limit-tokens") {
                for (name, value) in limiter.snapshot(state.access.limiters.now()).headers() {
                    response.headers_mut().insert(name, value);
                }
            }
        }
    }
    match permit {
        // The concurrency slot is held until the body (a stream, possibly) is finished or dropped.
        Some(permit) => {
            let (parts, body) = response.into_parts();
            let guarded = body.into_data_stream().map(move |chunk| {
                let _held = &permit;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(guarded))
        }
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmserve_engine::EngineRequest;
    use llmserve_scheduler::SamplingParams;

    #[test]
    fn requests_carry_the_tenants_priority_and_name() {
        let profile = Arc::new(profile::builtin("off").expect("built in"));
        let anonymous = RequestAccess::anonymous(Arc::clone(&profile));
        let request = anonymous.tag(EngineRequest::new(vec![1, 2], SamplingParams::default()));
        assert_eq!((request.priority, request.tenant.as_deref()), (0, None));
        let registry = TenantRegistry::single_key("k");
        let mut tenant = (*registry.authenticate("k").expect("the key authenticates")).clone();
        tenant.priority = 5;
        let access = RequestAccess {
            tenant: Some(Arc::new(tenant)),
            tenant_label: Arc::from("default"),
            limiter: None,
            profile,
            flagged: Arc::default(),
        };
        let request = access.tag(EngineRequest::new(vec![1, 2], SamplingParams::default()));
        assert_eq!((request.priority, request.tenant.as_deref()), (5, Some("default")));
        assert!(access.check_model("anything").is_ok());
    }
}
