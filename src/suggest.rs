//! "Did you mean ...?": the one place that picks the nearest of the valid names for a
//! misspelt one (keys of the provider file, lines of the secrets file, variables, helpers).

/// How alike two names must be (Jaro-Winkler) to be offered.
const THRESHOLD: f64 = 0.75;

/// The valid name nearest to `written`, when one is near enough.
pub fn closest<'a>(written: &str, valid: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(written, candidate), candidate))
        .filter(|(score, _)| *score > THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// A help line: "did you mean `x`?", or the valid names when none is near.
pub fn help<'a>(written: &str, valid: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match closest(written, valid.clone()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => {
            let all: Vec<String> = valid.into_iter().map(|v| format!("`{v}`")).collect();
            if all.is_empty() {
                "remove it".into()
            } else {
                format!("valid here: {}", all.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_the_nearest_or_lists_all() {
        assert_eq!(
            help("extrat", ["request", "extract"]),
            "did you mean `extract`?"
        );
        assert_eq!(
            help("zzz", ["request", "extract"]),
            "valid here: `request`, `extract`"
        );
        assert_eq!(help("zzz", []), "remove it");
        assert_eq!(closest("regoin", ["region", "image"]), Some("region"));
    }
}
