//! The guard between `proto/` and the protobuf messages checked in beside it.
//!
//! Every schema `proto/X.proto` has its generated messages in `proto/X.rs`, made by
//! `scripts/regen-proto`, which records the schema's hash in the file's header. A build
//! compiles no protobuf: it only hashes each schema again and fails, naming the script,
//! when a schema changed since its messages were generated (or has none). The hash is
//! FNV-1a (64-bit) of the schema's text with each `\r\n` read as `\n`, so a checkout with
//! Windows line endings passes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The header line of a generated file that records its schema's hash.
const HASH_PREFIX: &str = "// schema-fnv1a64: ";

fn main() -> ExitCode {
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    // The directory too, so that a schema added or removed reruns the check.
    println!("cargo:rerun-if-changed=proto");
    let schemas = match schemas(&proto) {
        Ok(schemas) => schemas,
        Err(e) => return fail(&format!("cannot list {}: {e}", proto.display())),
    };
    let mut problems = Vec::new();
    for schema in &schemas {
        let generated = schema.with_extension("rs");
        println!("cargo:rerun-if-changed={}", schema.display());
        println!("cargo:rerun-if-changed={}", generated.display());
        if let Err(problem) = check(schema, &generated) {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        fail(&problems.join("\n"))
    }
}

/// The schemas under `proto/`, in name order.
fn schemas(proto: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut schemas = Vec::new();
    for entry in fs::read_dir(proto)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            schemas.push(path);
        }
    }
    schemas.sort();
    Ok(schemas)
}

/// Whether `generated` records the hash of `schema` as it is now.
fn check(schema: &Path, generated: &Path) -> Result<(), String> {
    let (schema_name, generated_name) = (relative(schema), relative(generated));
    let text = fs::read(schema).map_err(|e| format!("cannot read {schema_name}: {e}"))?;
    let now = fnv1a64_normalised(&text);
    let messages = fs::read_to_string(generated)
        .map_err(|e| format!("{schema_name} has no generated messages ({generated_name}: {e})"))?;
    let recorded = messages
        .lines()
        .find_map(|line| line.strip_prefix(HASH_PREFIX))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| format!("{generated_name} records no schema hash ({HASH_PREFIX}0x…)"))?;
    if recorded == now {
        Ok(())
    } else {
        Err(format!(
            "{schema_name} changed since {generated_name} was generated from it (hash \
             {now:#018x}, recorded {recorded:#018x})"
        ))
    }
}

/// FNV-1a (64-bit) of `text` with every `\r\n` taken as `\n`.
fn fnv1a64_normalised(text: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for (i, &byte) in text.iter().enumerate() {
        if byte == b'\r' && text.get(i + 1) == Some(&b'\n') {
            continue;
        }
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `proto/<file>`, as the messages name it.
fn relative(path: &Path) -> String {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    format!("proto/{file}")
}

fn fail(problems: &str) -> ExitCode {
    eprintln!(
        "error: the checked-in protobuf messages do not match their schemas:\n{problems}\n\
         Run scripts/regen-proto to generate them again (it records each schema's hash), \
         and commit the result."
    );
    ExitCode::FAILURE
}
