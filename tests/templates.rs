//! Templates through the panel symlink, against a mock hoster on loopback: a zero-argument
//! helper's bare name inside `#each`/`#with` is a validate error (it could be the block's
//! field), `this.NAME` and `(NAME)` say which; `base64` and `json` take a block, so a YAML
//! block scalar is a multi-line document; a helper that takes no block is refused as one.

mod common;

use base64::Engine;
use common::{Plugin, capture_once, fixture, received_json, task_reply};
use mockito::Server;
use serde_json::json;

const TOKEN: &str = "tok-templates-1";

/// testhost.yaml with `extra` added to the order's JSON body (indented as its keys).
fn with_body(extra: &str) -> String {
    fixture("providers/testhost.yaml").replace(
        "          image: \"{{settings.image}}\"\n",
        &format!("          image: \"{{{{settings.image}}}}\"\n{extra}"),
    )
}

/// The problems `validate` reports for `yaml`, and the provider file's path.
fn validate(yaml: &str) -> (String, String) {
    let plugin = Plugin::new("testhost", yaml, "http://127.0.0.1:9");
    let file = plugin.provider_file();
    let output = plugin.operator(&["validate", file.to_str().unwrap()]);
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (report, file.display().to_string())
}

#[test]
fn a_helper_name_inside_a_block_that_could_be_a_field_is_a_validate_error() {
    let yaml = with_body("          disk: \"{{#each config}}{{uuid}}{{/each}}\"\n").replace(
        "  server_password: \"{{saved.root_password}}\"",
        "  server_password: \"{{#with saved}}{{password}}{{/with}}\"",
    );
    let (report, file) = validate(&yaml);
    for (name, line) in [("uuid", 34), ("password", 55)] {
        assert!(
            report.contains(&format!(
                "`{{{{{name}}}}}` calls the helper `{name}`, not the field `{name}`: write `{{{{this.{name}}}}}` for the field or `{{{{({name})}}}}` for the helper"
            )) && report.contains(&format!("--> {file}:{line}:")),
            "{report}"
        );
    }
}

#[test]
fn this_names_the_field_and_a_call_names_the_helper_inside_a_block() {
    let yaml = with_body("          disk: \"{{#with config}}{{(uuid)}}{{/with}}\"\n").replace(
        "  server_password: \"{{saved.root_password}}\"",
        "  server_password: \"{{#with saved}}{{this.root_password}}{{/with}}\"",
    );
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets(&format!("token={TOKEN}\n"));
    let (bought, received) = capture_once(
        server.mock("POST", "/servers"),
        201,
        json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string(),
    );
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    bought.assert();
    let disk = received_json(&received)["disk"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uuid_like(&disk), "{disk}");
    server
        .mock("GET", "/servers/42")
        .with_body(
            json!({"server": {"id": 42, "status": "running", "ipv4": "127.0.0.1"}}).to_string(),
        )
        .create();
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok(),
        &task_reply(&task_id, "finished", "127.0.0.1", "Hoster-Pw-1")
    );
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn base64_and_json_blocks_encode_a_multi_line_document_with_the_password() {
    let yaml = with_body(concat!(
        "          user_data: |-\n",
        "            {{#base64}}\n",
        "            #cloud-config\n",
        "            chpasswd: { users: [{name: root, password: \"{{password}}\"}] }\n",
        "            {{/base64}}\n",
        "          script: |-\n",
        "            {{#json}}\n",
        "            echo 'root:{{password}}' | chpasswd\n",
        "            {{/json}}\n",
    ))
    .replace(
        "  server_password: \"{{saved.root_password}}\"",
        "  server_password: \"{{password}}\"",
    );
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets(&format!("token={TOKEN}\n"));
    let (bought, received) = capture_once(
        server.mock("POST", "/servers"),
        201,
        json!({"server": {"id": 42}, "root_password": "unused"}).to_string(),
    );
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    bought.assert();
    server
        .mock("GET", "/servers/42")
        .with_body(
            json!({"server": {"id": 42, "status": "running", "ipv4": "127.0.0.1"}}).to_string(),
        )
        .create();
    let finished = plugin.run(&["order_status", &task_id]);
    let password = finished.ok()["server_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!password.is_empty());

    let body = received_json(&received);
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(body["user_data"].as_str().unwrap())
        .unwrap();
    // The lines of the opening and closing tags are dropped; the last line keeps its newline.
    assert_eq!(
        String::from_utf8(user_data).unwrap(),
        format!(
            "#cloud-config\nchpasswd: {{ users: [{{name: root, password: \"{password}\"}}] }}\n"
        )
    );
    assert_eq!(
        body["script"],
        json!(format!("echo 'root:{password}' | chpasswd\n")).to_string()
    );
    assert!(!finished.stderr.contains(&password));
}

#[test]
fn a_helper_that_takes_no_block_is_refused_as_one_with_its_place() {
    let (report, file) = validate(&with_body(
        "          label: \"{{#concat \\\"a\\\"}}x{{/concat}}\"\n",
    ));
    assert!(
        report.contains(
            "`{{#concat}}` is not a block helper (blocks: if, unless, each, with, base64, json, sha1, sha256, hmac_sha256)"
        ) && report.contains(&format!("--> {file}:34:11")),
        "{report}"
    );
}
