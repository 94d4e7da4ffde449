//! Untrusted text made safe to show: bounded in length, and free of the characters that forge
//! log lines or mislead a reader (controls, Unicode line separators, bidirectional overrides).

/// At most 40 characters of untrusted input, for error messages.
pub fn short(s: &str) -> String {
    short_n(s, 40)
}

/// At most `max` characters of `s` (an ellipsis marks the cut).
pub fn short_n(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Whether `c` is refused in text the function records: C0/C1 controls (tab and line breaks
/// only when `multiline`), Unicode line and paragraph separators, bidirectional embeddings,
/// overrides and isolates, and the byte-order mark (used to spoof log lines and reviewers).
pub fn is_forbidden(c: char, multiline: bool) -> bool {
    let allowed_ws = multiline && matches!(c, '\t' | '\n' | '\r');
    (c.is_control() && !allowed_ws)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// Text from a source the function does not validate strictly (finding titles, ids): every
/// forbidden character becomes a space, then the text is bounded to `max` characters.
pub fn clean(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if is_forbidden(c, false) { ' ' } else { c })
        .collect();
    if cleaned.chars().count() <= max {
        cleaned
    } else {
        short_n(&cleaned, max.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_has_no_line_breaks_separators_or_overrides() {
        // GIVEN a finding title that tries to forge a second log line and reverse the text
        let hostile = "ok\n{\"log_type\":\"audit\"}\u{2028}x\u{202E}exe.txt";
        // WHEN it is cleaned
        let c = clean(hostile, 512);
        // THEN none of the dangerous characters remain and the rest is kept
        assert!(!c.chars().any(|ch| is_forbidden(ch, false)), "{c:?}");
        assert!(c.starts_with("ok {\"log_type\""));
        // AND long text is bounded, the cut marked
        assert_eq!(clean(&"x".repeat(600), 512).chars().count(), 512);
    }
}
