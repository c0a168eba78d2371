//! The steps both generation routes take between parsing and submitting, in DESIGN.md's order:
//! the tenant's model access, the input safety chain, and (after tokenizing) the tenant's
//! tokens-per-minute reservation. Auth, requests-per-minute and concurrency ran before the body was
//! read ([`crate::access::access_control`]).

use std::sync::Arc;

use std::sync::atomic::Ordering;

use crate::access::{rate_limited, RequestAccess};
use crate::error::ApiError;
use crate::rate_limit::TokenReservation;
use crate::safety::chain::{check_input, SafetyRecorder};
use crate::safety::filter::InputText;
use crate::state::AppState;
use crate::validation::check_model;

/// Model access (404 for a model the tenant may not use) and the profile's input chain; returns
/// the recorder of the request's safety events. A flagged input marks `access` (the middleware
/// adds the response header).
pub async fn screen_request(
    state: &Arc<AppState>,
    access: &RequestAccess,
    request_id: &str,
    model: Option<&str>,
    input: &[InputText],
) -> Result<SafetyRecorder, ApiError> {
    check_model(state, model)?;
    access.check_model(model.unwrap_or(&state.config.model_id))?;
    let recorder = SafetyRecorder {
        metrics: Arc::clone(&state.metrics),
        tenant: Arc::clone(&access.tenant_label),
        request_id: request_id.to_string(),
        log_content: access.profile.log_content,
    };
    let verdict = check_input(&access.profile, input, &recorder).await?;
    if verdict.flagged {
        access.flagged.store(true, Ordering::Relaxed);
    }
    Ok(recorder)
}

/// Logprobs show the raw generated tokens, which a redacting or blocking output filter would
/// otherwise let out: refused under such a profile.
pub fn check_logprobs(access: &RequestAccess, asked: bool, param: &str) -> Result<(), ApiError> {
    if asked && access.profile.alters_output() {
        return Err(ApiError::invalid(
            param,
            format!(
                "`{param}` is not available under the safety profile `{}`, whose output filters redact or cut generated text",
                access.profile.name
            ),
        ));
    }
    Ok(())
}

/// A token reservation not yet handed to a running generation: if the request is refused after
/// reserving (admission cap, engine validation), dropping it refunds every token.
pub struct PendingReservation {
    reservation: Option<TokenReservation>,
    state: Arc<AppState>,
}

impl PendingReservation {
    /// Hands the reservation to the generation, which reconciles it with the real usage.
    pub fn commit(mut self) -> Option<TokenReservation> {
        self.reservation.take()
    }
}

impl Drop for PendingReservation {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            reservation.reconcile(0, self.state.access.limiters.now());
        }
    }
}

/// Reserves `tokens` (prompt + every sample's max_tokens) against the tenant's per-minute limit.
pub fn reserve_tokens(state: &Arc<AppState>, access: &RequestAccess, tokens: usize) -> Result<PendingReservation, ApiError> {
    let reservation = match &access.limiter {
        None => None,
        Some(limiter) => Some(
            limiter
                .reserve_tokens(tokens as u64, state.access.limiters.now())
                .map_err(|rejection| rate_limited(state, &access.tenant_label, rejection))?,
        ),
    };
    Ok(PendingReservation { reservation, state: Arc::clone(state) })
}
