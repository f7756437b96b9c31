//! What the panel gets is safe for its root shell and for its web page.
//!
//! The shell: on `finished` the panel's client runs, as root,
//! `system("expect <ssh_keycopy> $ip $port $login $key $pass >/dev/null 2>&1")`, each word
//! passed through `Pool::esc_chars`, which puts a backslash before each of
//! `` ; < > * | ` & $ ! # ( ) [ ] { } : ' " \ `` and space, and before nothing else. Every other
//! byte stays live in `/bin/sh`: a line break ends the command and starts the next one, a tab
//! splits words. So `server` and `server_password` reach the panel only when every character
//! is one [`is_shell_safe_char`] accepts: printable ASCII (0x21..=0x7E), minus
//! - `?`, a pattern that the shell replaces by the names of matching files in its folder;
//! - `~`, which the shell replaces by a home folder at the start of a word (`~root` is `/root`),
//!   and bash after a `=` as well.
//!
//! `^` and `=` stay in: `^` is a pipe only in the pre-POSIX Bourne shell, which no system the
//! panel runs on has as `/bin/sh` (bash on the RHEL family, dash elsewhere: a literal in both);
//! `=` makes an assignment only before the command name, and every value here follows
//! `expect`. `tests/panel_boundary.rs` replays the panel's escaping and `sh -c` on every
//! character of the set, and shows that `?` and `~` are not literals.
//!
//! The web page: texts the panel shows (a plan's `descr`, an error's `error_message`, a
//! failure's `message`) come from the hoster; [`shown`] makes them one plain line of bounded
//! length, without terminal escapes, line or paragraph separators, or direction overrides that
//! would reorder the page's text around them.

/// The longest `descr` the panel gets, in characters.
pub const DESCR_CAP: usize = 200;

/// The longest `error_message` or `message` the panel gets, in characters: enough for any
/// real hoster's error, and a 4 MB one does not make a 4 MB reply on every poll.
pub const MESSAGE_CAP: usize = 1000;

/// The longest piece of a hoster's text that a message quotes, in characters.
pub const QUOTED_CAP: usize = 200;

/// The characters a `server` or `server_password` may hold, in words for messages.
pub const SHELL_SAFE_RULE: &str =
    "letters, digits and the printable ASCII symbols other than `?` and `~`";

/// Whether `c` survives the panel's escaping and `/bin/sh` as itself.
pub fn is_shell_safe_char(c: char) -> bool {
    matches!(c, '\x21'..='\x7e') && !matches!(c, '?' | '~')
}

/// Whether `value` is one word that reaches the panel's `expect` exactly as it is.
pub fn is_shell_safe(value: &str) -> bool {
    !value.is_empty() && value.chars().all(is_shell_safe_char)
}

/// `text` as one clean line of at most `cap` characters: runs of whitespace and control
/// characters become one space, terminal escapes (`ESC [ ... m`) and direction overrides go,
/// and a longer text ends in `…`.
pub fn shown(text: &str, cap: usize) -> String {
    let mut clean = String::with_capacity(text.len().min(cap.saturating_mul(4)));
    let mut chars = text.chars().peekable();
    let mut pending_space = false;
    let mut count = 0;
    // One character past the cap tells a text that must be cut from one that fits.
    while count <= cap
        && let Some(c) = chars.next()
    {
        if c == '\u{1b}' && chars.next_if_eq(&'[').is_some() {
            // A control sequence: parameters and intermediates up to one final byte.
            while chars.next_if(|c| matches!(c, '\x20'..='\x3f')).is_some() {}
            chars.next_if(|c| matches!(c, '\x40'..='\x7e'));
        } else if c.is_whitespace() || c.is_control() {
            pending_space = count > 0;
        } else if !is_direction_mark(c) {
            if std::mem::take(&mut pending_space) {
                clean.push(' ');
                count += 1;
            }
            clean.push(c);
            count += 1;
        }
    }
    if count <= cap {
        return clean;
    }
    let mut cut: String = clean.chars().take(cap.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// A hoster's `text` as a message quotes it: [`shown`], at most [`QUOTED_CAP`] characters, so
/// that what the message says around it survives the reply's cap.
pub fn quoted(text: &str) -> String {
    shown(text, QUOTED_CAP)
}

/// The invisible marks that change the direction of the text around them.
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_safe_set_is_printable_ascii_without_glob_and_tilde() {
        let set: String = (0u8..=255)
            .map(char::from)
            .filter(|c| is_shell_safe_char(*c))
            .collect();
        assert_eq!(set.len(), 94 - 2);
        assert!(!set.contains(['?', '~', ' ', '\n', '\t', '\u{7f}']));
        assert!(set.contains(['^', '=', '%', '@', '-', '$', '\\']));
        assert!(!is_shell_safe(""));
        assert!(!is_shell_safe("pässword"));
        assert!(is_shell_safe("Xy7#{$(a)}';\\"));
    }

    #[test]
    fn shown_text_is_one_clean_bounded_line() {
        let hostile = "\u{1b}[31mRed\u{1b}[0m plan\r\n\t2 GB\u{0}\u{2028}x\u{2029}\u{202e}evil\u{2066}\u{7f}\u{9b}end  ";
        assert_eq!(shown(hostile, 200), "Red plan 2 GB x evil end");
        assert_eq!(shown("  \n ", 200), "");
        assert_eq!(shown("Ünïcode ok", 200), "Ünïcode ok");
        let long = "ab ".repeat(500);
        let capped = shown(&long, 200);
        assert_eq!(capped.chars().count(), 200);
        assert!(capped.ends_with('…'), "{capped}");
        assert_eq!(shown("abcd", 4), "abcd");
        assert_eq!(shown("abcde", 4), "abc…");
    }
}
