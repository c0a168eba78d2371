//! Chat templates: a list of messages → the prompt text a chat model was trained on.
//!
//! Models ship a Jinja template (GGUF `tokenizer.chat_template`, or `chat_template` in HF's
//! tokenizer_config.json). It is rendered here with minijinja configured like transformers'
//! `apply_chat_template` environment: `trim_blocks` and `lstrip_blocks` on, Python string/dict methods
//! (`.strip()`, `.startswith()`, `.items()` ... via minijinja-contrib's `pycompat`), the helper functions
//! `raise_exception(msg)` (→ [`ModelError::ChatTemplate`]) and `strftime_now(fmt)` (UTC), a `tojson`
//! filter that writes what Python's `json.dumps` writes (`", "`/`": "` separators, no HTML escaping,
//! `indent`/`sort_keys`/`ensure_ascii`/`separators` arguments), and the variables transformers passes:
//! `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools = none`, `documents = none`.
//! The template is compiled once in [`ChatTemplate::new`]; rendering is linear in the output.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Name of the template inside its environment (appears in error locations).
const TEMPLATE_NAME: &str = "chat_template";

/// One chat message as templates see it (`message['role']`, `message['content']`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }
}

/// A compiled chat template with the special-token strings it may refer to.
pub struct ChatTemplate {
    /// Environment owning the compiled template (`TEMPLATE_NAME`).
    env: Environment<'static>,
    /// `bos_token` variable (many LLaMA templates start with `{{ bos_token }}`).
    bos_token: Option<String>,
    /// `eos_token` variable (templates end assistant turns with it).
    eos_token: Option<String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

/// Error text of a minijinja error, with its causes.
fn describe(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

impl ChatTemplate {
    /// Compiles `source`; a syntax error is a [`ModelError::ChatTemplate`] naming line and cause.
    pub fn new(source: &str, bos_token: Option<String>, eos_token: Option<String>) -> Result<ChatTemplate, ModelError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| ModelError::ChatTemplate { reason: format!("does not compile: {}", describe(&e)) })?;
        Ok(ChatTemplate { env, bos_token, eos_token })
    }

    /// Renders the conversation; with `add_generation_prompt`, ends with the opening of an assistant turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, ModelError> {
        let template =
            self.env.get_template(TEMPLATE_NAME).map_err(|e| ModelError::ChatTemplate { reason: describe(&e) })?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_deref().unwrap_or(""),
            eos_token => self.eos_token.as_deref().unwrap_or(""),
            tools => Value::from(()),
            documents => Value::from(()),
        };
        template.render(ctx).map_err(|e| ModelError::ChatTemplate { reason: describe(&e) })
    }
}

/// `raise_exception(msg)`: templates reject unsupported conversations with it.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, format!("template raised an exception: {message}")))
}

/// `strftime_now(format)`: the current UTC time through a C `strftime` subset
/// (`%Y %m %d %e %H %I %M %S %p %y %j %B %b %h %A %a %F %T %D %%`; LLaMA-3.1 templates use `%d %b %Y`).
fn strftime_now(format: String) -> Result<String, Error> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    strftime_utc(&format, secs)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Proleptic Gregorian date of a day count since 1970-01-01: (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days end each 400/4-year cycle.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// `strftime` over a UTC timestamp.
fn strftime_utc(format: &str, unix_secs: u64) -> Result<String, Error> {
    let days = (unix_secs / 86_400) as i64;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday; 0 = Monday
    const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUMULATIVE[month as usize - 1] + day + u32::from(month > 2 && is_leap(year));
    let month_name = MONTHS[month as usize - 1];
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };

    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(Error::new(ErrorKind::InvalidOperation, "strftime_now: format ends with a lone `%`"));
        };
        let _ = match spec {
            'Y' => write!(out, "{year}"),
            'y' => write!(out, "{:02}", year.rem_euclid(100)),
            'm' => write!(out, "{month:02}"),
            'd' => write!(out, "{day:02}"),
            'e' => write!(out, "{day:2}"),
            'j' => write!(out, "{yday:03}"),
            'H' => write!(out, "{hour:02}"),
            'I' => write!(out, "{hour12:02}"),
            'M' => write!(out, "{minute:02}"),
            'S' => write!(out, "{second:02}"),
            'p' => write!(out, "{}", if hour < 12 { "AM" } else { "PM" }),
            'B' => write!(out, "{month_name}"),
            'b' | 'h' => write!(out, "{}", &month_name[..3]),
            'A' => write!(out, "{}", WEEKDAYS[weekday]),
            'a' => write!(out, "{}", &WEEKDAYS[weekday][..3]),
            'F' => write!(out, "{year}-{month:02}-{day:02}"),
            'T' => write!(out, "{hour:02}:{minute:02}:{second:02}"),
            'D' => write!(out, "{month:02}/{day:02}/{:02}", year.rem_euclid(100)),
            '%' => write!(out, "%"),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: unsupported directive `%{other}`"),
                ))
            }
        };
    }
    Ok(out)
}

/// JSON layout options of Python's `json.dumps`.
struct JsonStyle {
    /// `None`: one line; `Some(s)`: newline + `s` per nesting level.
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=indent,
/// separators=separators, sort_keys=sort_keys)`.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.kind() {
            ValueKind::Number => Some(" ".repeat(i64::try_from(v.clone()).unwrap_or(0).max(0) as usize)),
            ValueKind::String => Some(v.as_str().unwrap_or("").to_string()),
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: indent must be an integer or a string")),
        },
    };
    let (default_item, default_key) = if indent.is_some() { (",", ": ") } else { (", ", ": ") };
    let (item_separator, key_separator) = match kwargs.get::<Option<Vec<String>>>("separators")? {
        Some(s) if s.len() == 2 => (s[0].clone(), s[1].clone()),
        Some(_) => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be a pair")),
        None => (default_item.to_string(), default_key.to_string()),
    };
    let style = JsonStyle {
        indent,
        item_separator,
        key_separator,
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, value, &style, 0)?;
    Ok(Value::from_safe_string(out))
}

fn write_json_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline_indent(out: &mut String, style: &JsonStyle, depth: usize) {
    if let Some(unit) = &style.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

/// Python `repr`-like float text (`1.0`, `0.5`, `NaN`, `Infinity`).
fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

fn write_json(out: &mut String, value: &Value, style: &JsonStyle, depth: usize) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let integer = if value.is_integer() { i128::try_from(value.clone()).ok() } else { None };
            if let Some(i) = integer {
                let _ = write!(out, "{i}");
            } else {
                write_float(out, f64::try_from(value.clone()).unwrap_or(f64::NAN));
            }
        }
        ValueKind::String => write_json_string(out, value.as_str().unwrap_or(""), style.ensure_ascii),
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if style.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_separator);
                }
                newline_indent(out, style, depth + 1);
                let key_text = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                write_json_string(out, &key_text, style.ensure_ascii);
                out.push_str(&style.key_separator);
                write_json(out, &value.get_item(key)?, style, depth + 1)?;
            }
            newline_indent(out, style, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_separator);
                }
                newline_indent(out, style, depth + 1);
                write_json(out, item, style, depth + 1)?;
            }
            newline_indent(out, style, depth);
            out.push(']');
        }
        _ => write_json_string(out, &value.to_string(), style.ensure_ascii),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    #[test]
    fn chatml_renders_default_system_prompt() {
        let t = ChatTemplate::new(CHATML, None, Some("<|im_end|>".into())).unwrap();
        let out = t.render(&[ChatMessage::new("user", "hi")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        let out = t.render(&[ChatMessage::new("system", "S"), ChatMessage::new("user", "U")], false).unwrap();
        assert_eq!(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
    }

    #[test]
    fn raise_exception_is_a_chat_template_error() {
        let src = "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('Tool messages are not supported') }}{% endif %}{{ m.content }}{% endfor %}";
        let t = ChatTemplate::new(src, None, None).unwrap();
        assert_eq!(t.render(&[ChatMessage::new("user", "ok")], false).unwrap(), "ok");
        match t.render(&[ChatMessage::new("tool", "x")], false) {
            Err(ModelError::ChatTemplate { reason }) => {
                assert!(reason.contains("Tool messages are not supported"), "{reason}")
            }
            other => panic!("expected a ChatTemplate error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_is_reported_at_compile_time() {
        match ChatTemplate::new("{% for m in messages %}{{ m.content }", None, None) {
            Err(ModelError::ChatTemplate { reason }) => assert!(reason.contains("does not compile"), "{reason}"),
            other => panic!("expected a ChatTemplate error, got {other:?}"),
        }
    }

    #[test]
    fn llama3_template_with_bos_trim_and_pycompat() {
        // LLaMA-3-Instruct's template as published (one line).
        let src = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
        let t = ChatTemplate::new(src, Some("<|begin_of_text|>".into()), Some("<|eot_id|>".into())).unwrap();
        let out = t.render(&[ChatMessage::new("user", "  Hi there \n")], true).unwrap();
        assert_eq!(
            out,
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        // Python methods, and `tools` defined as none (transformers passes tools=None).
        let py = ChatTemplate::new(
            "{{ messages[0].content.strip().upper() }}{% if tools is not none %}T{% endif %}",
            None,
            None,
        )
        .unwrap();
        assert_eq!(py.render(&[ChatMessage::new("user", " a ")], false).unwrap(), "A");
        // trim_blocks + lstrip_blocks, as transformers' environment sets them.
        let blocks = ChatTemplate::new(
            "{% for m in messages %}\n    {% if m.role == 'user' %}\n{{ m.content }}\n    {% endif %}\n{% endfor %}\n",
            None,
            None,
        )
        .unwrap();
        let msgs = [ChatMessage::new("user", "a"), ChatMessage::new("assistant", "b"), ChatMessage::new("user", "c")];
        assert_eq!(blocks.render(&msgs, false).unwrap(), "a\nc\n");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let t = ChatTemplate::new("{{ messages | tojson }}|{{ messages[0] | tojson(indent=2) }}|{{ 'é<' | tojson }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ [] | tojson }}|{{ 1.0 | tojson }}", None, None)
            .unwrap();
        let out = t.render(&[ChatMessage::new("user", "a \"q\"\n")], false).unwrap();
        assert_eq!(
            out,
            "[{\"role\": \"user\", \"content\": \"a \\\"q\\\"\\n\"}]|{\n  \"role\": \"user\",\n  \"content\": \"a \\\"q\\\"\\n\"\n}|\"é<\"|\"\\u00e9\"|[]|1.0"
        );
    }

    #[test]
    fn strftime_formats_known_dates() {
        // 2024-07-26 13:05:09 UTC, a Friday.
        let ts = 1_722_000_000 - 1_722_000_000 % 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(strftime_utc("%d %b %Y", ts).unwrap(), "26 Jul 2024");
        assert_eq!(
            strftime_utc("%A %B %e, %F %T %j %I%p %%", ts).unwrap(),
            "Friday July 26, 2024-07-26 13:05:09 208 01PM %"
        );
        assert_eq!(strftime_utc("%Y-%m-%d", 0).unwrap(), "1970-01-01");
        assert_eq!(strftime_utc("%Y-%m-%d %a", 951_782_400).unwrap(), "2000-02-29 Tue");
        assert!(strftime_utc("%Q", 0).is_err());
        let t = ChatTemplate::new("{{ strftime_now('%Y') | length }}", None, None).unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "4");
    }
}
