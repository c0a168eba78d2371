//! `prefix-share`: `groups` groups of requests; every request of a group starts with the group's
//! common prefix of `prefix_len` random tokens and ends with its own suffix of `input_len` tokens.
//! Requests are ordered round-robin over the groups (group 0, 1, …, 0, 1, …), so a server with prefix
//! caching computes each prefix once and the rest of the group reuses it while other groups interleave.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::random::TokenPool;
use super::{fit_to_tokens, DatasetError, PromptTokenizer, SampleRequest};

pub fn build(
    count: usize,
    groups: usize,
    prefix_len: u32,
    input_len: u32,
    output_len: u32,
    tokenizer: &dyn PromptTokenizer,
    seed: u64,
) -> Result<Vec<SampleRequest>, DatasetError> {
    if groups == 0 || prefix_len == 0 || input_len == 0 || output_len == 0 {
        return Err(DatasetError::Invalid(
            "prefix-share needs --prefix-groups, --prefix-len, --input-len and --output-len of at least 1".into(),
        ));
    }
    let pool = TokenPool::new(tokenizer)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let prefixes: Vec<String> = (0..groups)
        .map(|g| {
            let ids = pool.sample(&mut rng, prefix_len as usize);
            // A newline ends the prefix so that the suffix cannot merge with its last token.
            let (text, _) = fit_to_tokens(tokenizer, ids, prefix_len as usize, &mut || pool.sample(&mut rng, 8));
            format!("Shared context {g}: {text}\n")
        })
        .collect();
    Ok((0..count)
        .map(|i| {
            let prefix = &prefixes[i % groups];
            let ids = pool.sample(&mut rng, input_len as usize);
            let (suffix, _) = fit_to_tokens(tokenizer, ids, input_len as usize, &mut || pool.sample(&mut rng, 8));
            let prompt = format!("{prefix}{suffix}");
            let prompt_len = tokenizer.encode(&prompt).len() as u64;
            SampleRequest { prompt, prompt_len, output_len }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::test_tokenizer::WordTokenizer;

    #[test]
    fn groups_share_exactly_their_prefix() {
        let t = WordTokenizer::new();
        let reqs = build(12, 3, 40, 10, 8, &t, 5).unwrap();
        let prefix = |r: &SampleRequest| r.prompt.split('\n').next().unwrap().to_string();
        for i in 0..12 {
            assert_eq!(prefix(&reqs[i]), prefix(&reqs[i % 3]), "request {i} shares group {}'s prefix", i % 3);
            assert_ne!(prefix(&reqs[i]), prefix(&reqs[(i + 1) % 12]), "neighbours are in different groups");
            // "Shared context g:" is 3 words + 40 prefix + 10 suffix.
            assert_eq!(reqs[i].prompt_len, 53);
        }
        let distinct: std::collections::HashSet<_> = reqs.iter().map(|r| &r.prompt).collect();
        assert_eq!(distinct.len(), 12);
        assert!(build(1, 0, 1, 1, 1, &t, 0).is_err());
    }
}
