//! `llmserve generate`: one prompt (raw, or as a chat turn through the model's own template), text
//! streamed to stdout as it is produced, prompt and decode speed on stderr at the end.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Args;
use llmserve_engine::generate::{generate, GenerateOptions};
use llmserve_models::chat_template::{ChatMessage, ChatTemplate};
use llmserve_models::detokenizer::IncrementalDetokenizer;
use llmserve_scheduler::SamplingParams;

use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt text.
    #[arg(long, env = "LLMSERVE_PROMPT")]
    pub prompt: String,
    /// Treat the prompt as a user message and apply the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat (default: the template's own).
    #[arg(long)]
    pub system: Option<String>,
    /// Maximum tokens to generate.
    #[arg(long = "max-tokens", default_value_t = 256)]
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long = "top-k", default_value_t = 0)]
    pub top_k: u32,
    #[arg(long = "top-p", default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long = "min-p", default_value_t = 0.0)]
    pub min_p: f32,
    #[arg(long = "repetition-penalty", default_value_t = 1.0)]
    pub repetition_penalty: f32,
    #[arg(long = "frequency-penalty", default_value_t = 0.0)]
    pub frequency_penalty: f32,
    #[arg(long = "presence-penalty", default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// Sampling seed (same seed → same text).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep going past the end-of-sequence token.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Print the prompt and generated token ids on stderr.
    #[arg(long = "show-tokens")]
    pub show_tokens: bool,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let model = args.model.load()?;
    let tokenizer = model
        .tokenizer
        .as_ref()
        .context("this model has no tokenizer; pass --tokenizer DIR (a directory with tokenizer.json)")?;
    let (text, parse_special) = if args.chat {
        let source = model.chat_template().context("--chat: the model has no chat template")?;
        let template = ChatTemplate::new(source, tokenizer.bos_token().map(String::from), tokenizer.eos_token().map(String::from))?;
        let mut messages = Vec::new();
        if let Some(s) = &args.system {
            messages.push(ChatMessage { role: "system".into(), content: s.clone() });
        }
        messages.push(ChatMessage { role: "user".into(), content: args.prompt.clone() });
        (template.render(&messages, true)?, true)
    } else {
        (args.prompt.clone(), false)
    };
    let prompt = tokenizer.encode(&text, parse_special)?;
    if prompt.is_empty() {
        bail!("the prompt encodes to zero tokens");
    }
    let params = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        frequency_penalty: args.frequency_penalty,
        presence_penalty: args.presence_penalty,
        seed: args.seed,
        max_tokens: args.max_tokens,
        ignore_eos: args.ignore_eos,
        ..Default::default()
    };
    let limit = model.config.max_position_embeddings;
    let requested = prompt.len() + args.max_tokens as usize;
    if requested > limit {
        bail!(
            "prompt ({} tokens) + --max-tokens ({}) = {requested} tokens exceeds the model's context length {limit}",
            prompt.len(),
            args.max_tokens
        );
    }
    let mut backend = args.model.cpu_backend(&model, requested)?;
    let opts = GenerateOptions { params, eos_ids: tokenizer.eos_ids().to_vec(), max_batch_tokens: 512 };
    let mut detok = IncrementalDetokenizer::new(true);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let result = generate(&mut backend, &prompt, &opts, |id| {
        let delta = detok.push(tokenizer, id);
        if let Err(e) = out.write_all(delta.as_bytes()).and_then(|_| out.flush()) {
            write_error = Some(e);
            return false;
        }
        true
    })?;
    if args.show_tokens {
        eprintln!("[prompt ids {prompt:?}]\n[generated ids {:?}]", result.tokens);
    }
    let tail = detok.finish();
    out.write_all(tail.as_bytes())?;
    writeln!(out)?;
    if let Some(e) = write_error {
        return Err(e).context("writing to stdout");
    }
    eprintln!(
        "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s, finish: {:?}, {} threads]",
        result.prompt_tokens,
        result.prompt_tok_s(),
        result.tokens.len(),
        result.decode_tok_s(),
        result.finish_reason,
        backend.threads()
    );
    Ok(())
}
