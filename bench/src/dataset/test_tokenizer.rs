//! A whitespace "tokenizer" for tests: one token per word, words numbered as first seen.

use std::collections::HashMap;
use std::sync::Mutex;

use super::PromptTokenizer;

#[derive(Default)]
pub struct WordTokenizer {
    vocab: Mutex<(HashMap<String, u32>, Vec<String>)>,
}

impl WordTokenizer {
    pub fn new() -> WordTokenizer {
        let t = WordTokenizer::default();
        // A fixed base vocabulary so random prompts have something to sample; id 0 is special.
        for w in ["<s>"].into_iter().map(String::from).chain((1..500).map(|i| format!("w{i}"))) {
            t.id(&w);
        }
        t
    }

    fn id(&self, word: &str) -> u32 {
        let mut v = self.vocab.lock().unwrap();
        if let Some(&id) = v.0.get(word) {
            return id;
        }
        let id = v.1.len() as u32;
        v.0.insert(word.to_string(), id);
        v.1.push(word.to_string());
        id
    }
}

impl PromptTokenizer for WordTokenizer {
    fn encode(&self, text: &str) -> Vec<u32> {
        text.split_whitespace().map(|w| self.id(w)).collect()
    }
    fn decode(&self, ids: &[u32]) -> String {
        let v = self.vocab.lock().unwrap();
        ids.iter().filter(|&&i| i != 0).map(|&i| v.1[i as usize].clone()).collect::<Vec<_>>().join(" ")
    }
    fn vocab_size(&self) -> usize {
        500
    }
    fn is_special(&self, id: u32) -> bool {
        id == 0
    }
}
