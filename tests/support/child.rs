//! A test re-run alone in a child process, for what is process-wide: environment
//! variables (every `build()` reads them, so setting them races the tests on the other
//! harness threads), the CAs read once per process, the process's own thread and
//! descriptor counts. The parent re-executes this test binary with `--exact <test>`;
//! the child, marked by a variable, runs the test's body and nothing else.

use std::process::Command;

/// Names the one test the child process runs.
const CHILD: &str = "PROMPUSH_TEST_CHILD";

/// Whether the test at `path` (`module_path!()` and its name) ran already in a child
/// process: in the parent, runs it there, alone, and panics with the child's output
/// unless it passed; returns `true` (the test is done). In that child, returns `false`:
/// the caller goes on with the body.
pub fn ran_in_child(path: &str) -> bool {
    // The harness lists tests without the crate's name: `env_config::…`, not `it::…`.
    let name = path.split_once("::").map_or(path, |(_crate, rest)| rest);
    if std::env::var(CHILD).is_ok_and(|running| running == name) {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, name)
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in a child process: {}\n{stdout}\n{stderr}",
        out.status
    );
    true
}
