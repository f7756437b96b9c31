//! The README's examples of request bodies and whole-answer extraction are real: each YAML
//! block of "Adding a provider" between "**Request bodies.**" and "**Session logins.**" is put
//! into a provider file as order steps (after the testhost's own create step) and must pass
//! `vps-provider validate`; so must the menu, login and endpoint examples, each put where it
//! belongs. A README example that drifts from the format fails here.

mod common;

use common::{fixture, repo_file};

/// The YAML blocks of the README section that starts at `from` and ends at `to`.
fn yaml_blocks(from: &str, to: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let start = readme.find(from).expect("the README has the section");
    let end = start + readme[start..].find(to).expect("the section ends");
    readme[start..end]
        .split("```yaml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

/// Checks that `yaml`, a provider file built around the README example `block`, validates.
fn assert_validates(yaml: &str, block: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("testhost.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = common::operator(&["validate", path.to_str().unwrap()], &[]);
    assert!(
        output.status.success(),
        "the README example does not validate:\n{block}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_readme_body_and_answer_examples_validate() {
    let blocks = yaml_blocks("**Request bodies.**", "**Session logins.**");
    assert_eq!(blocks.len(), 2, "the section shows bodies and extraction");
    for block in blocks {
        let steps: String = block.lines().map(|line| format!("    {line}\n")).collect();
        let yaml = fixture("providers/testhost.yaml")
            .replace("  image: rocky-9\n", "  image: rocky-9\n  note: \"\"\n")
            .replace(
                "        root_password: $.root_password\n  hoster_id:",
                &format!("        root_password: $.root_password\n{steps}  hoster_id:"),
            );
        assert!(yaml.contains(&steps), "the example went into the order");
        assert_validates(&yaml, &block);
    }
}

#[test]
fn the_readme_menu_examples_validate() {
    let blocks = yaml_blocks("### Menus from the hoster", "### Paged lists");
    assert_eq!(
        blocks.len(),
        2,
        "the section shows an RPC menu and a joined one"
    );
    let testhost = fixture("providers/testhost.yaml")
        .replace("  image: rocky-9\n", "  image: rocky-9\n  zone: fr-par-1\n")
        .replace("{{config.region}}", "{{settings.region}}");
    let static_configs =
        &testhost[testhost.find("configs:").unwrap()..testhost.find("order:").unwrap()];
    for block in blocks {
        let yaml = testhost.replace(static_configs, &block);
        assert_validates(&yaml, &block);
    }
}

#[test]
fn the_readme_paged_list_example_validates() {
    let blocks = yaml_blocks("### Paged lists", "## Operator commands");
    assert_eq!(
        blocks.len(),
        1,
        "the section shows page numbers and offsets"
    );
    let testhost =
        fixture("providers/testhost.yaml").replace("{{config.region}}", "{{settings.region}}");
    let static_configs =
        &testhost[testhost.find("configs:").unwrap()..testhost.find("order:").unwrap()];
    let yaml = testhost.replace(static_configs, &blocks[0]);
    assert!(
        yaml.contains("pages: { page: page"),
        "the example went into the file"
    );
    assert_validates(&yaml, &blocks[0]);
}

/// The testhost with a `password` secret for a login and `settings` (YAML lines) added.
fn testhost_logging_in(settings: &str) -> String {
    fixture("providers/testhost.yaml")
        .replace(
            "  token:\n    env: TESTHOST_TOKEN\n",
            "  token:\n    env: TESTHOST_TOKEN\n  password: {}\n",
        )
        .replace(
            "  image: rocky-9\n",
            &format!("  image: rocky-9\n{settings}"),
        )
}

#[test]
fn the_readme_login_and_error_examples_validate() {
    let blocks = yaml_blocks("**Session logins.**", "**Several endpoints.**");
    assert_eq!(
        blocks.len(),
        2,
        "the sections show a login and errors in 200 answers"
    );
    let testhost = testhost_logging_in("  user: admin\n  project: demo\n");
    let api = &testhost[testhost.find("api:\n").unwrap()..testhost.find("configs:").unwrap()];
    for block in blocks {
        let yaml = testhost.replace(api, &block);
        assert_validates(&yaml, &block);
    }
}

#[test]
fn the_readme_waiting_example_validates() {
    let blocks = yaml_blocks("**Steps that wait.**", "**Signed requests.**");
    assert_eq!(
        blocks.len(),
        1,
        "the section shows an order and a cleanup that wait"
    );
    let testhost = fixture("providers/testhost.yaml");
    let order =
        &testhost[testhost.find("order:").unwrap()..testhost.find("order_status:").unwrap()];
    for block in blocks {
        let yaml = testhost.replace(order, "") + &block;
        assert!(yaml.contains("repeat:"), "the example went into the file");
        assert_validates(&yaml, &block);
    }
}

#[test]
fn the_readme_signing_examples_validate() {
    let blocks = yaml_blocks("**Signed requests.**", "### Menus from the hoster");
    assert_eq!(
        blocks.len(),
        2,
        "the section shows OVHcloud's and Exoscale's signatures"
    );
    let testhost = fixture("providers/testhost.yaml").replace(
        "  token:\n    env: TESTHOST_TOKEN\n",
        "  token:\n    env: TESTHOST_TOKEN\n  api_key: {}\n  api_secret: {}\n",
    );
    let api = &testhost[testhost.find("api:\n").unwrap()..testhost.find("configs:").unwrap()];
    let secrets =
        &testhost[testhost.find("secrets:\n").unwrap()..testhost.find("settings:").unwrap()];
    for block in blocks {
        let yaml = match block.find("api:\n") {
            // The OVHcloud example declares its own secrets.
            Some(at) if at > 0 => testhost.replace(secrets, "").replace(api, &block),
            _ => testhost.replace(
                api,
                &block.replace(
                    "api:\n",
                    "api:\n  base_url: https://api-ch-gva-2.exoscale.com/v2\n",
                ),
            ),
        };
        assert_validates(&yaml, &block);
    }
}

#[test]
fn the_readme_endpoints_example_validates() {
    let blocks = yaml_blocks("**Several endpoints.**", "**The step that buys.**");
    assert_eq!(blocks.len(), 1, "the section shows an OpenStack-like api");
    let testhost =
        testhost_logging_in("  user: app-cred-id\n  auth_url: https://auth.cloud.example.com/v3\n");
    let api_and_configs =
        &testhost[testhost.find("api:\n").unwrap()..testhost.find("order:").unwrap()];
    let yaml = testhost.replace(api_and_configs, &blocks[0]);
    assert!(yaml.contains("endpoint: compute"), "the example went in");
    assert_validates(&yaml, &blocks[0]);
}
