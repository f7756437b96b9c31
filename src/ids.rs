//! Ids that end up in file names and shell commands: provider names, config ids, task ids.
//!
//! The panel builds shell strings with these unquoted and creates files named after task ids,
//! so one rule serves all: a letter or digit, then letters, digits, `_`, `.`, `-`; at most 64.

/// The longest id accepted.
pub const MAX_LEN: usize = 64;

/// Whether `id` is safe as a file name and as an unquoted shell word.
pub fn is_safe(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= MAX_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `id` shown in a message: cut to a readable length, control characters escaped.
pub fn shown(id: &str) -> String {
    let cut: String = id.chars().take(MAX_LEN).collect();
    let escaped: String = cut.escape_debug().collect();
    if cut.len() < id.len() {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// The help line for an unsafe id.
pub const RULE: &str = "ids start with a letter or digit, then use only letters, digits, `_`, `.` and `-`, at most 64 characters";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        for id in ["1", "24", "cx22-fsn1", "a.b_c-d", &"9".repeat(64)] {
            assert!(is_safe(id), "{id}");
        }
    }

    #[test]
    fn refuses_hostile_ids() {
        for id in [
            "",
            "../../etc/passwd",
            "1;reboot",
            "-rf",
            ".hidden",
            "a b",
            "a/b",
            "é",
            &"9".repeat(65),
        ] {
            assert!(!is_safe(id), "{id}");
        }
    }

    #[test]
    fn shows_long_ids_cut() {
        assert_eq!(shown(&"x".repeat(100)).chars().count(), 65);
        assert_eq!(shown("a\nb"), "a\\nb");
    }
}
