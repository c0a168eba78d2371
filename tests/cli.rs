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

/// `serve --log-file`: every line of every (rotated) file is JSON and no `request finished` line is lost.
#[test]
fn serve_log_file_rotates_whole_json_lines() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(path) = default_model::for_tests() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("llmserve.log");
    let mut child = llmserve()
        .args(["serve", "--port", "0", "--threads", "2", "--log-file-max-bytes", "4096", "--log-file-keep", "100", "--model"])
        .arg(&path)
        .arg("--log-file")
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stdout until the address is logged, then keep draining it so the server never blocks on it.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "llmserve listening" {
                    let _ = tx.send(v["address"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    });
    let Ok(base) = rx.recv_timeout(std::time::Duration::from_secs(120)) else {
        let _ = child.kill();
        panic!("the server did not start");
    };
    let client = reqwest::blocking::Client::new();
    let models: serde_json::Value = client.get(format!("{base}/v1/models")).send().unwrap().json().unwrap();
    let model = models["data"][0]["id"].as_str().unwrap().to_string();
    let requests = 30;
    for i in 0..requests {
        let body = serde_json::json!({ "model": model, "prompt": format!("Count to {i}:"), "max_tokens": 2 });
        let r = client.post(format!("{base}/v1/completions")).header("X-Request-ID", format!("log-file-{i}")).json(&body).send().unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    }
    // A graceful shutdown flushes the file.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    let mut finished = std::collections::BTreeSet::new();
    let mut files = 0;
    for n in 0..=100 {
        let p = if n == 0 { log.clone() } else { dir.path().join(format!("llmserve.log.{n}")) };
        let Ok(text) = std::fs::read_to_string(&p) else { continue };
        files += 1;
        assert!(text.len() <= 4096 && text.ends_with('\n'), "{}: {} bytes", p.display(), text.len());
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", p.display()));
            if v["target"] == "llmserve::request" && v["message"] == "request finished" {
                assert!(v["e2e_s"].as_f64().is_some() && v["completion_tokens"].as_u64().is_some(), "{line}");
                finished.insert(v["request_id"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(files >= 2, "4096-byte files should have rotated");
    let expected: std::collections::BTreeSet<String> = (0..requests).map(|i| format!("log-file-{i}")).collect();
    assert_eq!(finished, expected);
}

#[test]
fn serve_refuses_a_tiny_log_file_limit_and_a_missing_directory() {
    let out = llmserve().args(["serve", "--log-file", "/tmp/x.log", "--log-file-max-bytes", "100"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log-file-max-bytes") && err.contains("4096"), "{err}");
    let out = llmserve().args(["serve", "--log-file", "/nonexistent-dir/llmserve.log"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent-dir/llmserve.log"), "{err}");
}
