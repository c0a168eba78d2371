//! End-to-end tests of the `llmserve` binary on the default model: `generate --chat` streams fluent
//! text, `bench-model --json` reports both speeds, bad input gives a clear error and a non-zero exit.

use std::process::Command;

use llmserve_models::default_model;

fn llmserve() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmserve"))
}

#[test]
fn generate_chat_streams_fluent_text() {
    let Some(path) = default_model::for_tests() else { return };
    let out = llmserve()
        .args(["generate", "--chat", "--max-tokens", "40", "--threads", "2", "--model"])
        .arg(&path)
        .args(["--prompt", "Explain in two sentences what a CPU cache is."])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let text = String::from_utf8(out.stdout).expect("generated text is valid UTF-8");
    // llama.cpp's greedy answer to this prompt starts "A CPU cache is a type of data storage device".
    assert!(text.contains("CPU cache"), "answer should be about CPU caches: {text:?}");
    let words = text.split_whitespace().count();
    assert!(words >= 5, "expected a sentence, got {text:?}");
    assert!(!text.contains("<|im_end|>") && !text.contains('\u{fffd}'), "{text:?}");
    assert!(stderr.contains("tok/s"), "speed report missing: {stderr}");
}

#[test]
fn bench_model_json_reports_both_speeds() {
    let Some(path) = default_model::for_tests() else { return };
    let out = llmserve()
        .args(["bench-model", "--prompt-tokens", "32", "--gen-tokens", "8", "--runs", "1", "--warmup", "0", "--json", "--threads", "2", "--model"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["prompt_tok_s"].as_f64().unwrap() > 0.0);
    assert!(v["decode_tok_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn missing_model_file_is_a_clear_error() {
    let out = llmserve().args(["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");
}

#[test]
fn corrupt_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.gguf");
    std::fs::write(&p, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let out = llmserve().args(["generate", "--prompt", "hi", "--model"]).arg(&p).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.gguf") && err.contains("truncated"), "{err}");
}

#[test]
fn context_overflow_is_refused_with_both_numbers() {
    let Some(path) = default_model::for_tests() else { return };
    let out = llmserve()
        .args(["generate", "--max-tokens", "9000", "--prompt", "hello", "--model"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("8192"), "{err}");
}

#[test]
fn exported_hf_directory_generates_like_the_gguf() {
    let Some(path) = default_model::for_tests() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("hf");
    let out = llmserve().args(["export", "--format", "hf", "--dtype", "f32", "--model"]).arg(&path).arg("--out").arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let run = |model: &std::path::Path| {
        let o = llmserve()
            .args(["generate", "--activations", "f32", "--max-tokens", "12", "--threads", "2", "--prompt", "The capital of France is", "--model"])
            .arg(model)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let (a, b) = (run(&path), run(&out_dir));
    assert_eq!(a, b);
    assert!(a.starts_with(" Paris"), "{a:?}");
    // Exporting into a non-empty directory is refused rather than mixing files.
    let again = llmserve().args(["export", "--model"]).arg(&path).arg("--out").arg(&out_dir).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
