//! Replays the inputs kept from fuzzing (`tests/fuzz_regressions/<target>/*`: every crash,
//! timeout and out-of-memory the fuzzer found, and the hardest inputs it made) through the
//! very functions the fuzz targets call, under plain stable `cargo test`, so a fixed crash
//! cannot come back unnoticed and the harness cannot rot. See fuzz/README.md.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The stack a run of the binary has: the main thread's, 8 MiB by default on Linux. Test
/// threads get 2 MiB; each input runs on a thread of the size a real run (and the fuzzer) has.
const STACK: usize = 8 << 20;

/// Far more than any kept input takes in a debug build; an input that hangs again fails here
/// instead of stalling the test run.
const LIMIT: Duration = Duration::from_secs(60);

fn replay(target: &str, run: fn(&[u8])) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", folder.display());
    for file in files {
        let data = std::fs::read(&file).expect("a kept input");
        let started = Instant::now();
        let name = file.display().to_string();
        let outcome = std::thread::Builder::new()
            .name(name.clone())
            .stack_size(STACK)
            .spawn(move || run(&data))
            .expect("a thread")
            .join();
        assert!(outcome.is_ok(), "{name} panicked (see above)");
        let took = started.elapsed();
        assert!(took < LIMIT, "{name} took {took:?}");
    }
}

#[test]
fn provider_file_inputs() {
    replay("provider_file", harness::provider_file);
}

#[test]
fn template_inputs() {
    replay("template", harness::template);
}

#[test]
fn extract_inputs() {
    replay("extract", harness::extract);
}
