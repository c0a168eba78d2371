//! Boundary helpers shared by the PII scanners: "no match inside a longer alphanumeric run".

/// The character ending just before byte `at`.
pub(super) fn prev_char(text: &str, at: usize) -> Option<char> {
    text.get(..at)?.chars().next_back()
}

/// The character starting at byte `at`.
pub(super) fn next_char(text: &str, at: usize) -> Option<char> {
    text.get(at..)?.chars().next()
}

/// Characters that make a neighbouring match part of a longer word. Scripts written without
/// spaces (Han, kana) do not: "手机号是13800138000" holds a phone number.
pub(super) fn is_wordish(c: char) -> bool {
    (c.is_alphanumeric() && !is_unspaced_script(c)) || c == '_'
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

/// True when the character before `at` does not glue a match starting at `at` to a longer word.
pub(super) fn left_boundary_ok(text: &str, at: usize) -> bool {
    !prev_char(text, at).is_some_and(is_wordish)
}

/// True when the character at `at` does not glue a match ending at `at` to a longer word.
pub(super) fn right_boundary_ok(text: &str, at: usize) -> bool {
    !next_char(text, at).is_some_and(is_wordish)
}

/// Where a number (phone, card, SSN) may start: not glued to a word, and not in the middle of a
/// longer number ("12-4111…", "3.4111…", "1,4111…", "1 000 000").
pub(super) fn number_start_ok(text: &str, at: usize) -> bool {
    let bytes = text.as_bytes();
    match at.checked_sub(1).map(|i| bytes[i]) {
        None => true,
        Some(b'-' | b'.' | b',' | b'/' | b'+' | b':' | b' ') => !(at >= 2 && bytes[at - 2].is_ascii_digit()),
        Some(_) => left_boundary_ok(text, at),
    }
}

/// Byte positions from which a tail of at most `max_len` bytes starts, in increasing order.
pub(super) fn tail_starts(text: &str, max_len: usize) -> impl Iterator<Item = usize> + '_ {
    let from = text.len().saturating_sub(max_len);
    (from..text.len()).filter(move |&i| text.is_char_boundary(i))
}
