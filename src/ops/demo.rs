//! `vps-provider demo`: the whole conversation of the panel with a provider, against a small
//! mock hoster started on a loopback port, through the same binary and the same argv the panel
//! uses (a symlink named `demo`, one verb per run, one JSON object per run).

use crate::protocol::VERBS;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The demo's provider file, shipped in `providers.d/`.
pub const DEMO_PROVIDER: &str = include_str!("../../providers.d/demo.yaml");
/// The token the mock hoster accepts.
const TOKEN: &str = "demo-token";
/// Polls of a server before the mock reports it running.
const BUILD_POLLS: u32 = 2;

pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo failed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let server = tiny_http::Server::http("127.0.0.1:0")
        .map_err(|e| format!("cannot start the mock hoster: {e}"))?;
    let address = server
        .server_addr()
        .to_ip()
        .ok_or("the mock hoster has no IP address")?;
    let base_url = format!("http://{address}/v1");
    let polls = Arc::new(AtomicU32::new(0));
    let counter = polls.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            serve(request, &counter);
        }
    });

    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    let root = dir.path();
    let write = |path: &Path, text: &str| -> Result<(), String> {
        std::fs::create_dir_all(path.parent().unwrap_or(root)).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&root.join("providers.d/demo.yaml"), DEMO_PROVIDER)?;
    let secrets = root.join("providers/demo/etc/demo.conf");
    write(
        &secrets,
        &format!("# written by `vps-provider demo`\ntoken={TOKEN}\n"),
    )?;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let plugin = root.join("providers/demo/bin/demo");
    std::fs::create_dir_all(plugin.parent().unwrap_or(root)).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    std::os::unix::fs::symlink(&exe, &plugin)
        .map_err(|e| format!("cannot link the plugin: {e}"))?;

    println!("# mock hoster listening on {base_url}");
    println!("# plugin: {} -> {}", plugin.display(), exe.display());
    println!("# provider file: providers.d/demo.yaml; tasks kept in a temporary folder\n");
    let call = |args: &[&str]| -> Result<Value, String> {
        println!("$ {} {}", plugin.display(), args.join(" "));
        let output = Command::new(&plugin)
            .args(args)
            .env_clear()
            .env("VPS_PROVIDER_DIR", root.join("providers.d"))
            .env("VPS_PROVIDER_SECRETS", &secrets)
            .env("VPS_PROVIDER_STATE_DIR", root.join("state"))
            .env("VPS_PROVIDER_BASE_URL", &base_url)
            .output()
            .map_err(|e| format!("cannot run the plugin: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        let reply: Value = serde_json::from_str(&stdout)
            .map_err(|e| format!("the plugin printed no JSON: {e}"))?;
        if reply.get("error").is_some() {
            return Err(format!(
                "the plugin answered an error: {}",
                reply["error_message"]
            ));
        }
        Ok(reply)
    };
    let help = call(&[VERBS[0]])?;
    if help["status"] != "enabled" {
        return Err("the demo provider is not enabled".into());
    }
    let configs = call(&[VERBS[1]])?;
    let first = configs["configurations"][0]["id"]
        .as_str()
        .ok_or("the plugin offered no configuration")?
        .to_owned();
    let order = call(&[VERBS[2], &first])?;
    let task_id = order["task_id"]
        .as_str()
        .ok_or("the order has no task id")?
        .to_owned();
    for _ in 0..=BUILD_POLLS + 1 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        if call(&[VERBS[3], &task_id])?["status"] == "finished" {
            println!(
                "\n# finished: the panel would now copy its SSH key to root@server with server_password"
            );
            return Ok(());
        }
    }
    Err("the order never finished".into())
}

/// The mock hoster: a plan list, server creation, and a server that is built after a few polls.
fn serve(mut request: tiny_http::Request, polls: &AtomicU32) {
    let authorized = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && h.value.as_str() == format!("Bearer {TOKEN}"));
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let method = request.method().as_str().to_owned();
    let (status, answer) = match (method.as_str(), request.url()) {
        _ if !authorized => (401, json!({"error": {"message": "invalid API token"}})),
        ("GET", "/v1/plans") => (
            200,
            json!({"plans": [
                {"number": 1, "slug": "bx-small", "cpus": 1, "memory_mb": 2048, "disk_gb": 40, "price": 4.5, "region": "Local DC 1"},
                {"number": 2, "slug": "bx-medium", "cpus": 2, "memory_mb": 4096, "disk_gb": 80, "price": 9.0, "region": "Local DC 1"},
                {"number": 3, "slug": "bx-large", "cpus": 8, "memory_mb": 32768, "disk_gb": 320, "price": 79.0, "region": "Local DC 1"}
            ]}),
        ),
        ("POST", "/v1/servers") => match serde_json::from_str::<Value>(&body) {
            Ok(order)
                if order["root_password"]
                    .as_str()
                    .is_some_and(|p| p.len() >= 12) =>
            {
                (
                    201,
                    json!({"server": {"id": 101, "name": order["name"], "status": "building", "ipv4": null}}),
                )
            }
            _ => (
                422,
                json!({"error": {"message": "root_password must be at least 12 characters"}}),
            ),
        },
        ("GET", "/v1/servers/101") => {
            let seen = polls.fetch_add(1, Ordering::SeqCst);
            if seen < BUILD_POLLS {
                (
                    200,
                    json!({"server": {"id": 101, "status": "building", "ipv4": null}}),
                )
            } else {
                (
                    200,
                    json!({"server": {"id": 101, "status": "running", "ipv4": "192.0.2.10"}}),
                )
            }
        }
        _ => (404, json!({"error": {"message": "no such resource"}})),
    };
    let header =
        tiny_http::Header::from_bytes("Content-Type", "application/json").expect("a valid header");
    let response = tiny_http::Response::from_string(answer.to_string())
        .with_status_code(status)
        .with_header(header);
    let _ = request.respond(response);
}
