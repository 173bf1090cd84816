//! The public API is readable as written: every public function in the committed
//! listing (`public-api.txt`) appears in `src/` as `fn NAME`, a method inside an `impl`
//! of its type, so `grep` and a reader find it and no macro writes public API.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(type, name)` of each `pub fn` line of the listing: `Some(type)` for a method
/// (`prompush::Destination::with_tenant(…)` → `Destination`), `None` for a function.
fn listed_functions(listing: &str) -> BTreeSet<(Option<String>, String)> {
    listing
        .lines()
        .filter_map(|line| line.strip_prefix("pub fn "))
        .filter_map(|rest| rest.split('(').next())
        .map(|path| {
            let path = path.split('<').next().unwrap_or(path);
            let segments: Vec<&str> = path.split("::").collect();
            let name = segments.last().copied().unwrap_or_default().to_owned();
            let owner = segments
                .len()
                .checked_sub(2)
                .map(|i| segments[i])
                .filter(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
                .map(str::to_owned);
            (owner, name)
        })
        .collect()
}

/// Whether `src` declares `fn name` (followed by `(` or `<`), and, for a method, has an
/// `impl` line naming its type.
fn declares(src: &str, owner: Option<&str>, name: &str) -> bool {
    let declared = [format!("fn {name}("), format!("fn {name}<")]
        .iter()
        .any(|f| src.contains(f.as_str()));
    let owned = owner.is_none_or(|owner| {
        src.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("impl")
                && l.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == owner)
        })
    });
    declared && owned
}

#[test]
fn every_listed_public_function_is_written_out_in_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listing = fs::read_to_string(root.join("public-api.txt")).expect("public-api.txt");
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .collect();
    let functions = listed_functions(&listing);
    assert!(functions.len() > 100, "the listing names too few functions");
    let missing: Vec<String> = functions
        .iter()
        .filter(|(owner, name)| !texts.iter().any(|t| declares(t, owner.as_deref(), name)))
        .map(|(owner, name)| match owner {
            Some(owner) => format!("{owner}::{name}"),
            None => name.clone(),
        })
        .collect();
    assert!(
        missing.is_empty(),
        "public functions not written out as `fn NAME` in an impl of their type: {missing:?}"
    );
}

#[test]
fn listed_functions_are_read_with_their_type() {
    let listing = "pub fn prompush::Destination::with_tenant(self, x) -> Self\n\
                   pub fn prompush::process::register(&P) -> R\n\
                   pub struct prompush::Destination\n";
    let got = listed_functions(listing);
    assert!(got.contains(&(Some("Destination".into()), "with_tenant".into())));
    assert!(got.contains(&(None, "register".into())));
    assert_eq!(got.len(), 2);
}
