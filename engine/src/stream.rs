//! [`RequestStream`]: the events of one submitted request, for async and blocking callers.
//!
//! Modelled on vLLM's `AsyncLLM.generate` output stream and TGI's per-request response channel:
//! the engine thread pushes [`StreamEvent`]s into an unbounded channel (never blocking the step
//! loop on a slow client); the caller reads them as a `futures_core::Stream` or with
//! [`RequestStream::recv_blocking`]. Dropping the stream before every sample finished sends an
//! `Abort` to the engine, which frees the request's KV blocks at its next step (client disconnect).
//!
//! If the engine thread goes away while samples are unfinished, the stream does not just end: it
//! yields an `Error` and a `Finished { reason: Error }` for each of them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::mpsc::Sender;
use std::task::{Context, Poll};

use llmserve_scheduler::{FinishReason, RequestId, TokenLogprob};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine_core::EngineCommand;

/// Token accounting of one sample (OpenAI `usage`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    /// Generated tokens, including a final EOS / stop token.
    pub completion_tokens: usize,
    /// Prompt tokens whose KV came from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Time from `submit` to the first step that scheduled the sample (`None` if it never ran).
    pub queue_time: Option<std::time::Duration>,
}

/// What a request's stream yields. Every sample `index` gets, when it asked `prompt_logprobs`, one
/// `PromptLogprobs` before anything else, then zero or more `Tokens`, possibly an `Error`, and
/// exactly one `Finished`, last.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// New tokens of sample `index` and the text they completed. `text` may be empty (a character
    /// split across tokens, text held back because it may start a stop string, a special token).
    /// A stop string and anything after it never appear in `text`, but the token that completed
    /// it is in `token_ids`. `logprobs` is `Some` exactly when the request asked `logprobs`: one
    /// entry per element of `token_ids`, same order.
    Tokens { index: usize, token_ids: Vec<u32>, text: String, logprobs: Option<Vec<TokenLogprob>> },
    /// The prompt's logprobs for sample `index` (request asked `prompt_logprobs`): one entry per
    /// prompt token, entry 0 `None`, entry `i` the logprob of prompt token `i` given tokens `0..i`.
    /// Sent once, before the sample's first `Tokens` (and before `Finished` when `max_tokens` is 0).
    PromptLogprobs { index: usize, logprobs: Vec<Option<TokenLogprob>> },
    /// Sample `index` failed in the engine; its `Finished { reason: Error }` follows.
    Error { index: usize, message: String },
    /// Sample `index` ended.
    Finished { index: usize, reason: FinishReason, usage: Usage },
}

impl StreamEvent {
    /// The sample the event belongs to.
    pub fn index(&self) -> usize {
        match self {
            StreamEvent::Tokens { index, .. }
            | StreamEvent::PromptLogprobs { index, .. }
            | StreamEvent::Error { index, .. }
            | StreamEvent::Finished { index, .. } => *index,
        }
    }
}

/// One sample's whole result, gathered by [`RequestStream::collect_blocking`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompletedSample {
    pub token_ids: Vec<u32>,
    pub text: String,
    /// `None` only if the stream ended without finishing this sample (cannot happen through
    /// `collect_blocking`, which synthesizes an error finish).
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
    pub error: Option<String>,
    /// One entry per token of `token_ids` when the request asked `logprobs`; empty otherwise.
    pub logprobs: Vec<TokenLogprob>,
    /// The `PromptLogprobs` event's entries, when the request asked `prompt_logprobs`.
    pub prompt_logprobs: Option<Vec<Option<TokenLogprob>>>,
}

/// Events of one submitted request (all its samples). See the module documentation.
pub struct RequestStream {
    /// The group id (sample 0's request id); [`crate::EngineHandle::abort`] takes it.
    id: RequestId,
    /// Samples in the group.
    n: usize,
    events: UnboundedReceiver<StreamEvent>,
    /// To send `Abort` on drop.
    commands: Sender<EngineCommand>,
    /// `[n]` whether each sample's `Finished` was seen.
    finished: Vec<bool>,
    num_finished: usize,
    /// Events made up locally when the engine vanished without finishing every sample.
    synthesized: VecDeque<StreamEvent>,
}

impl RequestStream {
    pub(crate) fn new(id: RequestId, n: usize, events: UnboundedReceiver<StreamEvent>, commands: Sender<EngineCommand>) -> Self {
        RequestStream { id, n, events, commands, finished: vec![false; n], num_finished: 0, synthesized: VecDeque::new() }
    }

    /// The request's id (for [`crate::EngineHandle::abort`], logs).
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Samples in this request.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Whether every sample has finished (the stream yields nothing more).
    pub fn is_finished(&self) -> bool {
        self.num_finished == self.n
    }

    fn observe(&mut self, event: &StreamEvent) {
        if let StreamEvent::Finished { index, .. } = *event {
            if let Some(done) = self.finished.get_mut(index) {
                if !*done {
                    *done = true;
                    self.num_finished += 1;
                }
            }
        }
    }

    /// The engine dropped the channel: finish every unfinished sample with an error.
    fn on_closed(&mut self) {
        for index in 0..self.n {
            if !self.finished[index] {
                let message = "the engine stopped before this request finished".to_string();
                self.synthesized.push_back(StreamEvent::Error { index, message });
                self.synthesized.push_back(StreamEvent::Finished { index, reason: FinishReason::Error, usage: Usage::default() });
            }
        }
    }

    fn next_synthesized(&mut self) -> Option<StreamEvent> {
        let event = self.synthesized.pop_front()?;
        self.observe(&event);
        Some(event)
    }

    /// Waits for the next event; `None` once every sample has finished.
    ///
    /// Blocks the calling thread: for threads outside an async runtime (tests, CLI tools). Inside
    /// a tokio runtime use the `Stream` implementation instead (tokio panics on blocking there).
    pub fn recv_blocking(&mut self) -> Option<StreamEvent> {
        if let Some(event) = self.next_synthesized() {
            return Some(event);
        }
        if self.is_finished() {
            return None;
        }
        match self.events.blocking_recv() {
            Some(event) => {
                self.observe(&event);
                Some(event)
            }
            None => {
                self.on_closed();
                self.next_synthesized()
            }
        }
    }

    /// Reads the stream to its end and assembles each sample's tokens, text, reason and usage.
    pub fn collect_blocking(mut self) -> Vec<CompletedSample> {
        let mut samples = vec![CompletedSample::default(); self.n];
        while let Some(event) = self.recv_blocking() {
            let Some(sample) = samples.get_mut(event.index()) else { continue };
            match event {
                StreamEvent::Tokens { token_ids, text, logprobs, .. } => {
                    sample.token_ids.extend_from_slice(&token_ids);
                    sample.text.push_str(&text);
                    sample.logprobs.extend(logprobs.into_iter().flatten());
                }
                StreamEvent::PromptLogprobs { logprobs, .. } => sample.prompt_logprobs = Some(logprobs),
                StreamEvent::Error { message, .. } => sample.error = Some(message),
                StreamEvent::Finished { reason, usage, .. } => {
                    sample.finish_reason = Some(reason);
                    sample.usage = usage;
                }
            }
        }
        samples
    }
}

impl futures_core::Stream for RequestStream {
    type Item = StreamEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamEvent>> {
        let this = self.get_mut();
        if let Some(event) = this.next_synthesized() {
            return Poll::Ready(Some(event));
        }
        if this.is_finished() {
            return Poll::Ready(None);
        }
        match this.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                this.observe(&event);
                Poll::Ready(Some(event))
            }
            Poll::Ready(None) => {
                this.on_closed();
                Poll::Ready(this.next_synthesized())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for RequestStream {
    fn drop(&mut self) {
        if !self.is_finished() {
            // The engine may already be gone; then there is nothing left to free.
            let _ = self.commands.send(EngineCommand::Abort(self.id));
        }
    }
}
