//! English-like filler text for synthetic prompts: sentences of common words, seeded.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const WORDS: &[&str] = &[
    "the", "system", "model", "request", "server", "data", "time", "people", "water", "history", "market",
    "energy", "city", "student", "question", "answer", "language", "network", "garden", "river", "music",
    "country", "problem", "result", "method", "process", "teacher", "computer", "story", "family", "health",
    "policy", "science", "window", "kitchen", "morning", "evening", "company", "project", "design", "budget",
    "travel", "weather", "memory", "library", "account", "picture", "reason", "example", "number", "explain",
    "describe", "compare", "write", "summarize", "improve", "consider", "build", "measure", "choose", "keep",
    "quickly", "carefully", "often", "usually", "simple", "important", "different", "small", "large", "new",
    "old", "public", "local", "early", "late", "clear", "strong", "better", "common", "recent", "and", "of",
    "to", "in", "for", "with", "on", "about", "from", "by", "that", "this", "which", "while", "because",
];

/// About `words` words of sentences (one token per word on average, roughly, for BPE vocabularies).
pub(crate) fn sentence_text(rng: &mut ChaCha8Rng, words: usize) -> String {
    let mut out = String::with_capacity(words * 7);
    let mut written = 0;
    while written < words.max(1) {
        let len = rng.gen_range(6..16);
        for i in 0..len {
            let w = WORDS.choose(rng).expect("non-empty word list");
            if i == 0 {
                let mut c = w.chars();
                let first = c.next().expect("non-empty word").to_ascii_uppercase();
                out.push(first);
                out.push_str(c.as_str());
            } else {
                out.push(' ');
                out.push_str(w);
            }
        }
        out.push_str(if rng.gen_bool(0.2) { "? " } else { ". " });
        written += len;
    }
    out
}
