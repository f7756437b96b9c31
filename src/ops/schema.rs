//! The JSON Schema of the provider file, generated from [`crate::manifest`]'s types, and the
//! check of a provider file against it, which finds every structural problem at once (serde
//! stops at the first).

use crate::error::{Error, Source};
use crate::manifest::Manifest;
use crate::position::YamlPath;
use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde_json::Value;

/// The schema as `vps-provider schema` prints it and `schemas/provider.schema.json` holds it.
pub fn provider_schema() -> Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(Manifest)).expect("a schema is JSON");
    schema["$id"] =
        Value::String("https://vps-provider.invalid/schemas/provider.schema.json".into());
    schema
}

/// The schema as text, with a final newline.
pub fn provider_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&provider_schema()).expect("a schema is JSON");
    text.push('\n');
    text
}

/// Every place where `document` (the provider file as JSON) breaks the schema.
pub fn problems(source: &Source, document: &Value) -> Vec<Error> {
    let schema = provider_schema();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(err) => {
            return vec![Error::new(format!(
                "internal error: the provider schema does not compile: {err}"
            ))];
        }
    };
    validator
        .iter_errors(document)
        .flat_map(|error| problem(source, &schema, &error))
        .collect()
}

/// The problems one schema error stands for. An `anyOf` (an optional section, a key that
/// takes a text or a map) stands for the errors of the branch that was meant: the one that
/// failed on more than the value's type, so a misspelt key deep inside is named as such.
fn problem(source: &Source, schema: &Value, error: &ValidationError) -> Vec<Error> {
    let mut at = YamlPath::root();
    for segment in error.instance_path().iter() {
        at = match segment {
            LocationSegment::Property(key) => at.key(&key),
            LocationSegment::Index(index) => at.index(index),
        };
    }
    // A branch refused for the value's own type (a map where the branch takes a text) was
    // not the one meant; a type error deeper inside (a text where a port goes) was.
    let only_type = |branch: &Vec<ValidationError>| {
        branch.iter().all(|e| {
            matches!(e.kind(), ValidationErrorKind::Type { .. })
                && e.instance_path().as_str() == error.instance_path().as_str()
        })
    };
    vec![match error.kind() {
        ValidationErrorKind::AnyOf { context } => {
            let mut meant = context.iter().filter(|branch| !only_type(branch));
            if let (Some(branch), None) = (meant.next(), meant.next()) {
                return branch
                    .iter()
                    .flat_map(|e| problem(source, schema, e))
                    .collect();
            }
            source
                .error(&at, error.to_string())
                .help("see schemas/provider.schema.json or the README for this key")
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_keys(schema, error.schema_path().as_str());
            let key = unexpected.first().cloned().unwrap_or_default();
            let help = crate::suggest::help(&key, allowed.iter().map(String::as_str));
            source
                .error(&at.key(&key), format!("unknown key `{key}`"))
                .help(help)
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(str::to_owned))
                .collect();
            let written = error.instance().as_str().unwrap_or_default().to_owned();
            source
                .error(&at, error.to_string())
                .help(crate::suggest::help(
                    &written,
                    allowed.iter().map(String::as_str),
                ))
        }
        _ => source
            .error(&at, error.to_string())
            .help("see schemas/provider.schema.json or the README for this key"),
    }]
}

/// The keys the schema object that owns `additionalProperties` at `schema_path` allows.
fn allowed_keys(schema: &Value, schema_path: &str) -> Vec<String> {
    let owner = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    schema
        .pointer(owner)
        .and_then(|node| node.get("properties"))
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}
