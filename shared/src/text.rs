//! What free text from callers (ids, names, labels) may contain.

/// Characters refused in any stored name, id or label: control characters, the bidirectional
/// embeddings, overrides, isolates and marks (they make text display other than it reads, as
/// in "Trojan Source"), invisible zero-width spaces and byte-order marks, and Unicode
/// non-characters. Joiners (U+200C, U+200D) stay allowed: several scripts and emoji need them.
pub fn is_refused(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FDD0}'..='\u{FDEF}'
        )
        || (c as u32 & 0xFFFE) == 0xFFFE
}

/// Whether `value` contains a refused character.
pub fn has_refused(value: &str) -> bool {
    value.chars().any(is_refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_bidi_invisibles_and_noncharacters() {
        for bad in [
            "a\u{0}b",
            "a\nb",
            "\u{7f}",
            "\u{202E}txt.exe",
            "\u{2066}x",
            "\u{200F}",
            "a\u{200B}b",
            "\u{FEFF}id",
            "\u{FFFF}",
            "\u{1FFFE}",
            "\u{FDD0}",
        ] {
            assert!(has_refused(bad), "{bad:?}");
        }
        for good in [
            "Zoë",
            "José Müller",
            "李小龙",
            "مریم",
            "क्‍ष",
            "👩\u{200D}💻",
            "O'Brien-Smith",
            "a b",
        ] {
            assert!(!has_refused(good), "{good:?}");
        }
    }
}
