//! Strong random root passwords, for hosters that want the client to choose one (or never
//! tell it): 24 letters and digits from the OS's random source, with at least one upper-case
//! letter, one lower-case letter and one digit, which every hoster's strength check accepts.
//! No symbols: the password travels through JSON, cloud-init YAML, `chpasswd` and the panel's
//! own shell command (letters and digits are in [`crate::panel_safe`]'s set, which that
//! command takes as literals), and 24 of these 57 letters and digits carry almost 140 bits.

const LENGTH: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A new password, or an error when the OS has no randomness to give.
pub fn generate() -> Result<String, String> {
    loop {
        let mut password = String::with_capacity(LENGTH);
        while password.len() < LENGTH {
            let mut bytes = [0u8; 64];
            getrandom::fill(&mut bytes)
                .map_err(|e| format!("no random numbers from the OS: {e}"))?;
            // Rejection sampling keeps every character equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            for byte in bytes.into_iter().filter(|b| (*b as usize) < limit) {
                if password.len() < LENGTH {
                    password.push(ALPHABET[byte as usize % ALPHABET.len()] as char);
                }
            }
        }
        let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase)
            && has(char::is_ascii_lowercase)
            && has(char::is_ascii_digit)
        {
            return Ok(password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_mixed_and_different() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(a.chars().any(|c| c.is_ascii_digit()) && a.chars().any(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn passwords_reach_the_panel_as_they_are_and_stay_strong() {
        let mut alphabet = ALPHABET.to_vec();
        alphabet.sort_unstable();
        alphabet.dedup();
        assert_eq!(alphabet.len(), ALPHABET.len(), "no character counts twice");
        assert!(
            ALPHABET
                .iter()
                .all(|&b| crate::panel_safe::is_shell_safe_char(b.into()))
        );
        // The mixed-case rule drops few passwords: the strength is about that of all of them,
        // well above the 128 bits of a strong key.
        let bits = LENGTH as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits > 139.0, "{bits} bits");
        for _ in 0..200 {
            assert!(crate::panel_safe::is_shell_safe(&generate().unwrap()));
        }
    }
}
