//! The bad-input corpus: argv, provider files, secrets files, task files and hoster answers
//! that are wrong in every way we could think of. Each case runs the real binary the way the
//! panel does and checks the contract that holds whatever happens: exactly one JSON object on
//! stdout, of the verb's shape or the error shape, no panic, an exit code that goes with it,
//! and every file that was there before (provider file, secrets file, tasks) still there,
//! byte for byte, unless the case is one that may update its task.
//!
//! Tables, one per kind of input, are run by [`harness::run_table`], which names every case
//! that fails; [`the_corpus_holds_at_least_200_cases`] counts them.

#[path = "../common/mod.rs"]
mod common;

mod argv;
mod harness;
mod hoster_answers;
mod provider_files;
mod raw_hoster;
mod secrets_files;
mod task_files;

#[test]
fn the_corpus_holds_at_least_200_cases() {
    let counts = [
        ("argv", argv::cases().len()),
        ("operator argv", argv::operator_cases().len()),
        ("provider files", provider_files::cases().len()),
        ("secrets files", secrets_files::cases().len()),
        ("task files", task_files::cases().len()),
        ("hoster answers", hoster_answers::cases().len()),
    ];
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    eprintln!("bad-input cases: {counts:?}, {total} in all");
    assert!(total >= 200, "only {total} cases: {counts:?}");
}
