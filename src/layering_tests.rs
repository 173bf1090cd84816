//! The layering rule as a test: reads `src/`, builds the file-level import graph, and fails
//! on an import cycle between files or on an import that runs up the declared layers.
//!
//! How it reads the code (line-based tokens, no compiler): comments and string contents are
//! skipped; every `use` tree (grouped, multi-line, `self`, `as`) and every path written in
//! code that starts at `crate::`, `super::`, `self::`, a child module or a name the file
//! imports (`crate::x::Y::new()`, `labels::key(…)`) is resolved to the file that defines
//! the item. A name a module only imports (`use`, `pub use`, a facade's re-export, a `*`
//! import) is followed to where it is defined, so a cycle cannot hide behind a `mod.rs`.
//! A `pub use` line is a facade, not an import of its own: the files that use the name
//! depend on the defining file, the facade does not.
//!
//! Test code is left out: files declared under `#[cfg(test)]` (`tests.rs`, `*_tests.rs`)
//! and every item under `#[cfg(test)]` or `#[cfg(all(test, …))]` inside a file. Tests may
//! reach anywhere; the rule is about the code users compile.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The layers, top to bottom (the README's Layout section states the same). A file may
/// import from its own layer and from the layers below it; within a layer the cycle check
/// is what keeps modules apart. Every top-level module of the crate appears once.
///
/// `meter` and `instrument` are entry points: they are what an application holds (the
/// opentelemetry `Meter` and its instruments), they sit over the aggregators, and the
/// pipeline never reaches up to them.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "entry points",
        &[
            "provider",
            "sdk_exporter",
            "metrics_facade",
            "observers",
            "scrape",
            "receiver",
            "custom",
            "meter",
            "instrument",
            "view",
            "destination",
            "env",
            "guide",
            "remote_write",
        ],
    ),
    ("the push pipeline", &["pipeline"]),
    (
        "translation, encoding and aggregation",
        &["prometheus", "aggregate"],
    ),
    ("transport", &["transport"]),
    (
        "the data model and leaves",
        &["snapshot", "error", "instance_id", "runtime", "sync"],
    ),
];

/// Cycles allowed, each with why, as the exact set of files in it: none.
const ALLOWED_CYCLES: &[&[&str]] = &[];

#[test]
fn every_type_visible_beyond_its_file_has_a_name_of_its_own() {
    let graph = Graph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let report = graph.repeated_type_names();
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn layering_has_no_file_cycles_and_no_upward_imports() {
    let graph = Graph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let report = graph.report();
    assert!(report.is_empty(), "\n{report}");
}

// ---------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    PathSep,
    Punct(char),
}

/// Rust source as tokens with their 1-based line numbers; comments, numbers, lifetimes
/// and character literals are dropped, string literals keep their raw content.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |j: usize| s.get(j).copied().unwrap_or('\0');
    while i < s.len() {
        let c = s[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(s[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b') && raw_or_byte_string_start(&s, i)) {
            // Prefixes: b"…", r"…", r#"…"#, br#"…"#.
            let start_line = line;
            let mut j = i;
            let mut raw = false;
            while s[j] != '"' && s[j] != '#' {
                raw |= s[j] == 'r';
                j += 1;
            }
            let mut hashes = 0;
            while s[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            let begin = j;
            loop {
                if j >= s.len() {
                    break;
                }
                if !raw && s[j] == '\\' {
                    line += usize::from(at(j + 1) == '\n');
                    j += 2;
                    continue;
                }
                if s[j] == '"' && (0..hashes).all(|h| at(j + 1 + h) == '#') {
                    break;
                }
                line += usize::from(s[j] == '\n');
                j += 1;
            }
            let end = j.min(s.len());
            out.push((Tok::Str(s[begin..end].iter().collect()), start_line));
            i = end + 1 + hashes;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < s.len() && s[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let begin = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            let word: String = s[begin..i].iter().collect();
            let word = word.strip_prefix("r#").unwrap_or(&word).to_string();
            out.push((Tok::Ident(word), line));
        } else if c.is_ascii_digit() {
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_' || s[i] == '.') {
                if s[i] == '.' && !at(i + 1).is_ascii_digit() {
                    break;
                }
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn raw_or_byte_string_start(s: &[char], i: usize) -> bool {
    if i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_') {
        return false;
    }
    let rest: String = s[i..s.len().min(i + 3)].iter().collect();
    rest.starts_with("r\"")
        || rest.starts_with("r#\"")
        || rest.starts_with("r##")
        || rest.starts_with("b\"")
        || rest.starts_with("br\"")
        || rest.starts_with("br#")
}

// ---------------------------------------------------------------------------------------
// One file read on its own

/// A `mod name;` or `mod name { … }` declaration.
#[derive(Debug, Clone)]
struct ModDecl {
    name: String,
    path_attr: Option<String>,
    test: bool,
    /// Inline modules: the chain of inline module names inside this file.
    inline_in: Vec<String>,
    inline: bool,
}

/// One leaf of a `use` tree.
#[derive(Debug, Clone, PartialEq)]
struct UseLeaf {
    path: Vec<String>,
    /// The name it binds (`None` for `*` and `as _`).
    binds: Option<String>,
    glob: bool,
}

#[derive(Debug, Clone)]
struct Use {
    leaf: UseLeaf,
    public: bool,
    line: usize,
    /// Inline modules the `use` sits in.
    scope: Vec<String>,
}

/// A path written in code, with the line it is on.
#[derive(Debug, Clone)]
struct CodePath {
    path: Vec<String>,
    line: usize,
    scope: Vec<String>,
}

#[derive(Debug, Default)]
struct FileSyntax {
    mods: Vec<ModDecl>,
    uses: Vec<Use>,
    paths: Vec<CodePath>,
    /// Names of the items the file defines (fn, struct, enum, trait, type, const, static…).
    defines: BTreeSet<String>,
    /// Types visible outside the file (`pub`, `pub(crate)`, `pub(super)`), with their lines.
    visible_types: Vec<(String, usize)>,
}

/// Whether the tokens of an attribute (inside `#[…]`) are a test-only `cfg`.
fn is_test_cfg(attr: &[Tok]) -> bool {
    let ident = |t: &Tok, w: &str| matches!(t, Tok::Ident(x) if x == w);
    if attr.first().is_none_or(|t| !ident(t, "cfg")) {
        return false;
    }
    let test = attr.iter().any(|t| ident(t, "test"));
    let all_only = attr.get(2).is_some_and(|t| ident(t, "all"))
        && !attr.iter().any(|t| ident(t, "any") || ident(t, "not"));
    test && (attr.len() == 4 || all_only)
}

fn parse_file(src: &str) -> FileSyntax {
    let toks = tokenize(src);
    let mut f = FileSyntax::default();
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(w), _)) => Some(w.as_str()),
        _ => None,
    };
    let is = |i: usize, t: Tok| toks.get(i).is_some_and(|(x, _)| *x == t);
    // Inline modules open at a brace depth and close with it.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let (mut pending_test, mut pending_path) = (false, None::<String>);
    let mut public = false;
    let mut i = 0;
    while i < toks.len() {
        let scope: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
        match &toks[i].0 {
            Tok::Punct('#') if is(i + 1, Tok::Punct('[')) || is(i + 2, Tok::Punct('[')) => {
                let open = if is(i + 1, Tok::Punct('[')) {
                    i + 1
                } else {
                    i + 2
                };
                let close = matching(&toks, open);
                let attr: Vec<Tok> = toks[open + 1..close].iter().map(|t| t.0.clone()).collect();
                pending_test |= is_test_cfg(&attr);
                if let [Tok::Ident(p), Tok::Punct('='), Tok::Str(s)] = attr.as_slice() {
                    if p == "path" {
                        pending_path = Some(s.clone());
                    }
                }
                i = close + 1;
                continue;
            }
            Tok::Ident(w) if w == "pub" => {
                public = true;
                i += 1;
                if is(i, Tok::Punct('(')) {
                    i = matching(&toks, i) + 1;
                }
                continue;
            }
            Tok::Ident(w) if w == "mod" && ident(i + 1).is_some() => {
                let name = ident(i + 1).unwrap_or_default().to_string();
                let decl_inline = is(i + 2, Tok::Punct('{'));
                f.mods.push(ModDecl {
                    name: name.clone(),
                    path_attr: pending_path.take(),
                    test: pending_test,
                    inline_in: scope.clone(),
                    inline: decl_inline,
                });
                f.defines.insert(name.clone());
                if pending_test {
                    i = skip_item(&toks, i);
                } else if decl_inline {
                    depth += 1;
                    inline.push((name, depth));
                    i += 3;
                } else {
                    i += 3;
                }
                pending_test = false;
                public = false;
                continue;
            }
            _ if pending_test => {
                i = skip_item(&toks, i);
                pending_test = false;
                pending_path = None;
                public = false;
                continue;
            }
            Tok::Ident(w) if w == "use" => {
                let end = (i..toks.len())
                    .find(|&j| is(j, Tok::Punct(';')))
                    .unwrap_or(toks.len());
                let mut leaves = Vec::new();
                use_tree(&toks[i + 1..end], Vec::new(), &mut leaves);
                for (leaf, line) in leaves {
                    f.uses.push(Use {
                        leaf,
                        public,
                        line,
                        scope: scope.clone(),
                    });
                }
                i = end + 1;
                public = false;
                continue;
            }
            Tok::Ident(w)
                if matches!(
                    w.as_str(),
                    "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
                ) =>
            {
                if let Some(name) = ident(i + 1) {
                    f.defines.insert(name.to_string());
                    let is_type =
                        matches!(w.as_str(), "struct" | "enum" | "trait" | "type" | "union");
                    if is_type && public {
                        f.visible_types.push((name.to_string(), toks[i].1));
                    }
                }
            }
            Tok::Ident(w) if w == "macro_rules" => {
                if let Some(name) = ident(i + 2) {
                    f.defines.insert(name.to_string());
                }
            }
            Tok::Ident(first) if is(i + 1, Tok::PathSep) => {
                // The start of a path in code (not its middle, not `$crate`, not `::std`).
                let starts = i == 0 || !matches!(toks[i - 1].0, Tok::PathSep | Tok::Punct('$'));
                if starts {
                    let mut path = vec![first.clone()];
                    let mut j = i + 1;
                    while is(j, Tok::PathSep) {
                        match ident(j + 1) {
                            Some(w) => path.push(w.to_string()),
                            None => break,
                        }
                        j += 2;
                    }
                    f.paths.push(CodePath {
                        path,
                        line: toks[i].1,
                        scope: scope.clone(),
                    });
                    i = j;
                    public = false;
                    continue;
                }
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        // Visibility applies to the next item only.
        if matches!(toks[i].0, Tok::Punct(';' | '{' | '}')) {
            public = false;
        }
        i += 1;
    }
    f
}

/// The index of the bracket that closes the one at `open`.
fn matching(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0i32;
    for (j, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

/// The index after the item that starts at `i`: its `;` or its closing brace.
fn skip_item(toks: &[(Tok, usize)], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return matching(toks, i) + 1,
            Tok::Punct('(' | '[') => i = matching(toks, i) + 1,
            _ => i += 1,
        }
    }
    i
}

/// Expands a `use` tree (the tokens between `use` and `;`) into its leaves.
fn use_tree(toks: &[(Tok, usize)], prefix: Vec<String>, out: &mut Vec<(UseLeaf, usize)>) {
    let mut path = prefix;
    let mut i = 0;
    if matches!(toks.first(), Some((Tok::PathSep, _))) {
        return; // `::name`: an external crate.
    }
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Ident(w) => {
                path.push(w.clone());
                i += 1;
            }
            Tok::PathSep => i += 1,
            Tok::Punct('*') => {
                out.push((
                    UseLeaf {
                        path: path.clone(),
                        binds: None,
                        glob: true,
                    },
                    toks[i].1,
                ));
                return;
            }
            Tok::Punct('{') => {
                let close = matching(toks, i);
                let inner = &toks[i + 1..close];
                // Split at top-level commas.
                let mut depth = 0;
                let mut start = 0;
                for (j, (t, _)) in inner.iter().enumerate() {
                    match t {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => {
                            use_tree(&inner[start..j], path.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                use_tree(&inner[start..], path.clone(), out);
                return;
            }
            _ => break,
        }
        if let Some((Tok::Ident(a), _)) = toks.get(i) {
            if a == "as" {
                let alias = match toks.get(i + 1) {
                    Some((Tok::Ident(x), _)) => Some(x.clone()),
                    _ => None, // `as _`
                };
                let line = toks[i].1;
                push_leaf(path, alias, line, out);
                return;
            }
        }
    }
    if let Some(line) = toks.first().map(|t| t.1) {
        let binds = path.last().cloned();
        push_leaf(path, binds, line, out);
    }
}

fn push_leaf(
    mut path: Vec<String>,
    binds: Option<String>,
    line: usize,
    out: &mut Vec<(UseLeaf, usize)>,
) {
    // `a::{self}` names `a`.
    let mut binds = binds;
    if path.last().is_some_and(|l| l == "self") && path.len() > 1 {
        path.pop();
        if binds.as_deref() == Some("self") {
            binds = path.last().cloned();
        }
    }
    if path.is_empty() {
        return;
    }
    out.push((
        UseLeaf {
            path,
            binds,
            glob: false,
        },
        line,
    ));
}

// ---------------------------------------------------------------------------------------
// The crate: module tree, resolution, graph

struct SourceFile {
    /// Relative to `src/`, with `/` separators.
    name: String,
    module: Vec<String>,
    test: bool,
    /// A second file for a module already read (a `#[cfg(not(feature))]` stand-in).
    alternate: bool,
    syntax: FileSyntax,
}

struct Graph {
    files: Vec<SourceFile>,
    /// Module path → index of the file that holds it (the first declaration wins: a
    /// `#[cfg(not(feature))]` stand-in is read, never resolved to).
    modules: BTreeMap<Vec<String>, usize>,
    /// Import edges between files: (from, to) → the lines and paths that make them.
    edges: BTreeMap<(usize, usize), Vec<(usize, String)>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut g = Graph {
            files: Vec::new(),
            modules: BTreeMap::new(),
            edges: BTreeMap::new(),
        };
        g.load(src, &src.join("lib.rs"), Vec::new(), false, true);
        g.link();
        g
    }

    fn load(&mut self, root: &Path, file: &Path, module: Vec<String>, test: bool, mod_rs: bool) {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let syntax = parse_file(&text);
        let name = file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        let index = self.files.len();
        let alternate = self.modules.contains_key(&module);
        self.modules.entry(module.clone()).or_insert(index);
        let decls = syntax.mods.clone();
        self.files.push(SourceFile {
            name,
            module: module.clone(),
            test,
            alternate,
            syntax,
        });
        let dir = file.parent().unwrap_or(root).to_path_buf();
        // A non-mod.rs file's children live in the folder named after it.
        let child_dir = if mod_rs {
            dir.clone()
        } else {
            dir.join(file.file_stem().unwrap_or_default())
        };
        for decl in decls {
            let mut child = module.clone();
            child.extend(decl.inline_in.iter().cloned());
            child.push(decl.name.clone());
            if decl.inline {
                self.modules.entry(child).or_insert(index);
                continue;
            }
            let child_test = test || decl.test;
            let (path, child_mod_rs): (PathBuf, bool) = match &decl.path_attr {
                Some(p) => (dir.join(p), true),
                None => {
                    let flat = child_dir.join(format!("{}.rs", decl.name));
                    if flat.exists() {
                        (flat, false)
                    } else {
                        (child_dir.join(&decl.name).join("mod.rs"), true)
                    }
                }
            };
            self.load(root, &path, child, child_test, child_mod_rs);
        }
    }

    /// Resolves every import and code path of every non-test file to a file.
    fn link(&mut self) {
        for from in 0..self.files.len() {
            if self.files[from].test {
                continue;
            }
            let file = &self.files[from];
            let mut found = Vec::new();
            for u in file
                .syntax
                .uses
                .iter()
                .filter(|u| !u.public && !u.leaf.glob)
            {
                let base = scope_module(&file.module, &u.scope);
                found.push((
                    self.resolve(from, &base, &u.leaf.path, 0),
                    u.line,
                    &u.leaf.path,
                ));
            }
            for u in file.syntax.uses.iter().filter(|u| !u.public && u.leaf.glob) {
                let base = scope_module(&file.module, &u.scope);
                found.push((
                    self.resolve(from, &base, &u.leaf.path, 0),
                    u.line,
                    &u.leaf.path,
                ));
            }
            for p in &file.syntax.paths {
                let base = scope_module(&file.module, &p.scope);
                found.push((self.resolve(from, &base, &p.path, 0), p.line, &p.path));
            }
            let mut edges = Vec::new();
            for (to, line, path) in found {
                if let Some(to) = to.filter(|&t| t != from && !self.files[t].test) {
                    edges.push(((from, to), (line, path.join("::"))));
                }
            }
            for (k, v) in edges {
                self.edges.entry(k).or_default().push(v);
            }
        }
    }

    /// The file that defines what `path`, written in file `from` inside module `base`,
    /// names; `None` for paths outside the crate.
    fn resolve(&self, from: usize, base: &[String], path: &[String], hops: usize) -> Option<usize> {
        if hops > 32 || path.is_empty() {
            return None;
        }
        let absolute = self.absolute(from, base, path, hops)?;
        self.locate(&absolute, hops)
    }

    /// `path` as a path from the crate root.
    fn absolute(
        &self,
        from: usize,
        base: &[String],
        path: &[String],
        hops: usize,
    ) -> Option<Vec<String>> {
        if hops > 32 || path.is_empty() {
            return None;
        }
        let mut module = base.to_vec();
        let mut rest = path;
        match rest[0].as_str() {
            "crate" => {
                module.clear();
                rest = &rest[1..];
            }
            "self" => rest = &rest[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    module.pop()?;
                    rest = &rest[1..];
                }
            }
            first => {
                let mut child = base.to_vec();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    // A name the file imports: continue from what it names.
                    let u = self.files[from].syntax.uses.iter().find(|u| {
                        !u.leaf.glob
                            && u.leaf.binds.as_deref() == Some(first)
                            && u.leaf.path != path
                    })?;
                    let u_base = scope_module(&self.files[from].module, &u.scope);
                    let mut named = self.absolute(from, &u_base, &u.leaf.path, hops + 1)?;
                    named.extend(rest[1..].iter().cloned());
                    return Some(named);
                }
            }
        }
        module.extend(rest.iter().cloned());
        Some(module)
    }

    /// The file that defines the item at an absolute path, following re-exports.
    fn locate(&self, absolute: &[String], hops: usize) -> Option<usize> {
        let k = (0..=absolute.len())
            .rev()
            .find(|&k| self.modules.contains_key(&absolute[..k]))?;
        let holder = self.modules[&absolute[..k]];
        let Some(name) = absolute.get(k) else {
            return Some(holder);
        };
        let module = &absolute[..k];
        let syntax = &self.files[holder].syntax;
        // A name the module imports or re-exports: where it comes from.
        if let Some(u) = syntax
            .uses
            .iter()
            .find(|u| u.scope.is_empty() && !u.leaf.glob && u.leaf.binds.as_deref() == Some(name))
        {
            return self
                .resolve(holder, module, &u.leaf.path, hops + 1)
                .or(Some(holder));
        }
        if syntax.defines.contains(name) {
            return Some(holder);
        }
        // A `*` import: the first module behind it that has the name.
        for u in syntax
            .uses
            .iter()
            .filter(|u| u.scope.is_empty() && u.leaf.glob)
        {
            let mut through = u.leaf.path.clone();
            through.push(name.clone());
            if let Some(abs) = self.absolute(holder, module, &through, hops + 1) {
                let behind = &abs[..abs.len() - 1];
                if let Some(&f) = self.modules.get(behind) {
                    let s = &self.files[f].syntax;
                    if s.defines.contains(name)
                        || s.uses.iter().any(|u| u.leaf.binds.as_deref() == Some(name))
                    {
                        return self.locate(&abs, hops + 1);
                    }
                }
            }
        }
        Some(holder)
    }

    fn layer_of(&self, file: usize) -> Option<usize> {
        let top = self.files[file].module.first()?;
        LAYERS
            .iter()
            .position(|(_, mods)| mods.contains(&top.as_str()))
    }

    /// Everything wrong, as text; empty when the layering holds.
    fn report(&self) -> String {
        let mut out = String::new();
        for f in self.files.iter().filter(|f| !f.test) {
            if let Some(top) = f.module.first() {
                if !LAYERS.iter().any(|(_, m)| m.contains(&top.as_str())) {
                    let _ = writeln!(
                        out,
                        "module `{top}` ({}) is in no layer: add it to LAYERS",
                        f.name
                    );
                }
            }
        }
        for cycle in self.cycles() {
            let mut names: Vec<&str> = cycle.iter().map(|&f| self.files[f].name.as_str()).collect();
            names.sort_unstable();
            if ALLOWED_CYCLES.contains(&names.as_slice()) {
                continue;
            }
            let _ = writeln!(
                out,
                "import cycle between {} files: {}",
                names.len(),
                names.join(", ")
            );
            for ((a, b), uses) in &self.edges {
                if cycle.contains(a) && cycle.contains(b) {
                    for (line, path) in uses {
                        let _ = writeln!(
                            out,
                            "    {}:{line} → {} ({path})",
                            self.files[*a].name, self.files[*b].name
                        );
                    }
                }
            }
        }
        for ((a, b), uses) in &self.edges {
            let (Some(la), Some(lb)) = (self.layer_of(*a), self.layer_of(*b)) else {
                continue;
            };
            if lb < la {
                for (line, path) in uses {
                    let _ = writeln!(
                        out,
                        "upward import: {}:{line} ({}) imports {path} from {} ({})",
                        self.files[*a].name, LAYERS[la].0, self.files[*b].name, LAYERS[lb].0
                    );
                }
            }
        }
        out
    }

    /// Type names defined visibly (beyond their file) in more than one place.
    fn repeated_type_names(&self) -> String {
        let mut places: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for f in self.files.iter().filter(|f| !f.test && !f.alternate) {
            for (name, line) in &f.syntax.visible_types {
                places
                    .entry(name)
                    .or_default()
                    .push(format!("{}:{line}", f.name));
            }
        }
        let mut out = String::new();
        for (name, at) in places.iter().filter(|(_, at)| at.len() > 1) {
            let _ = writeln!(
                out,
                "type name `{name}` is defined {} times: {}",
                at.len(),
                at.join(", ")
            );
        }
        out
    }

    /// The strongly connected components with more than one file (Tarjan).
    fn cycles(&self) -> Vec<BTreeSet<usize>> {
        let n = self.files.len();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in self.edges.keys() {
            next[a].push(b);
        }
        struct State {
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on_stack: Vec<bool>,
            stack: Vec<usize>,
            counter: usize,
            found: Vec<BTreeSet<usize>>,
        }
        fn visit(v: usize, next: &[Vec<usize>], st: &mut State) {
            st.index[v] = Some(st.counter);
            st.low[v] = st.counter;
            st.counter += 1;
            st.stack.push(v);
            st.on_stack[v] = true;
            for &w in &next[v] {
                match st.index[w] {
                    None => {
                        visit(w, next, st);
                        st.low[v] = st.low[v].min(st.low[w]);
                    }
                    Some(iw) if st.on_stack[w] => st.low[v] = st.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(st.low[v]) == st.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = st.stack.pop() {
                    st.on_stack[w] = false;
                    component.insert(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    st.found.push(component);
                }
            }
        }
        let mut st = State {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            counter: 0,
            found: Vec::new(),
        };
        for v in 0..n {
            if st.index[v].is_none() {
                visit(v, &next, &mut st);
            }
        }
        st.found
    }
}

fn scope_module(module: &[String], scope: &[String]) -> Vec<String> {
    let mut m = module.to_vec();
    m.extend(scope.iter().cloned());
    m
}

// ---------------------------------------------------------------------------------------
// The parser on small strings, one line per case

fn leaves(src: &str) -> Vec<String> {
    parse_file(src)
        .uses
        .iter()
        .map(|u| {
            let mut s = u.leaf.path.join("::");
            if u.leaf.glob {
                s.push_str("::*");
            }
            if !u.leaf.glob && u.leaf.binds.as_ref() != u.leaf.path.last() {
                let _ = write!(s, " as {}", u.leaf.binds.as_deref().unwrap_or("_"));
            }
            s
        })
        .collect()
}

fn code_paths(src: &str) -> Vec<String> {
    parse_file(src)
        .paths
        .iter()
        .map(|p| p.path.join("::"))
        .collect()
}

#[test]
fn use_trees_expand_to_their_leaves() {
    assert_eq!(leaves("use crate::a::B;"), ["crate::a::B"]);
    assert_eq!(leaves("use super::{b, c::d};"), ["super::b", "super::c::d"]);
    assert_eq!(
        leaves("use a::{b::{c, d}, e};"),
        ["a::b::c", "a::b::d", "a::e"]
    );
    assert_eq!(leaves("use a::{\n    b,\n    c,\n};"), ["a::b", "a::c"]);
    assert_eq!(leaves("use a::{self, b};"), ["a", "a::b"]);
    assert_eq!(leaves("use a::B as C;"), ["a::B as C"]);
    assert_eq!(leaves("use a::Trait as _;"), ["a::Trait as _"]);
    assert_eq!(leaves("use super::*;"), ["super::*"]);
    assert_eq!(leaves("pub(crate) use x::{Y, z::*};"), ["x::Y", "x::z::*"]);
    assert_eq!(leaves("use ::std::fmt;"), Vec::<String>::new());
}

#[test]
fn use_lines_are_the_lines_of_their_leaves() {
    let lines: Vec<usize> = parse_file("use a::{\n b,\n c};")
        .uses
        .iter()
        .map(|u| u.line)
        .collect();
    assert_eq!(lines, [2, 3]);
}

#[test]
fn pub_use_is_told_from_use() {
    let uses = parse_file("pub use a::B; use a::C; pub(super) use a::D;").uses;
    let public: Vec<bool> = uses.iter().map(|u| u.public).collect();
    assert_eq!(public, [true, false, true]);
}

#[test]
fn paths_in_code_are_found_whole() {
    assert_eq!(
        code_paths("let x = crate::x::Y::new();"),
        ["crate::x::Y::new"]
    );
    assert_eq!(
        code_paths("fn f(a: super::A) -> labels::Key {}"),
        ["super::A", "labels::Key"]
    );
    assert_eq!(code_paths("let v = Vec::<u8>::new();"), ["Vec"]);
    assert_eq!(code_paths("$crate::a::b!()"), Vec::<String>::new());
}

#[test]
fn comments_strings_and_chars_hide_nothing_and_add_nothing() {
    assert_eq!(
        code_paths("// crate::a::B\nlet s = \"super::c\";"),
        Vec::<String>::new()
    );
    assert_eq!(
        code_paths("/* crate::a */ let c = '\"'; crate::b::C"),
        ["crate::b::C"]
    );
    assert_eq!(
        code_paths("let s = r#\"crate::x\"#; fn f<'a>(x: &'a super::T) {}"),
        ["super::T"]
    );
}

#[test]
fn test_only_code_is_left_out() {
    assert_eq!(
        code_paths("#[cfg(test)]\nmod tests { use crate::a::B; crate::c::D }"),
        Vec::<String>::new()
    );
    assert_eq!(
        code_paths("#[cfg(test)]\nfn f() { crate::a::b() }\nfn g() { crate::c::d() }"),
        ["crate::c::d"]
    );
    assert_eq!(
        code_paths("#[cfg(any(test, feature = \"x\"))]\nfn f() { crate::a::b() }"),
        ["crate::a::b"]
    );
    assert!(parse_file("#[cfg(test)]\nmod tests;").mods[0].test);
    assert!(parse_file("#[cfg(all(test, unix))]\nmod tests;").mods[0].test);
}

#[test]
fn module_declarations_keep_their_path_attribute() {
    let mods = parse_file("#[path = \"x_tests.rs\"]\nmod tests;").mods;
    assert_eq!(mods[0].path_attr.as_deref(), Some("x_tests.rs"));
}

#[test]
fn visible_types_are_told_from_private_ones() {
    let types = parse_file("pub struct A; struct B; pub(crate) enum C {} impl X { type D = u8; } pub(super) type E = u8;").visible_types;
    let names: Vec<&str> = types.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["A", "C", "E"]);
}

#[test]
fn defined_items_are_known() {
    let defines = parse_file("pub(crate) struct A; fn b() {} enum C {} macro_rules! d {}").defines;
    assert_eq!(
        defines.into_iter().collect::<Vec<_>>(),
        ["A", "C", "b", "d"]
    );
}

/// A throwaway crate under the temp dir: `(path under src/, text)` pairs.
fn report_on(name: &str, files: &[(&str, &str)]) -> String {
    let root =
        std::env::temp_dir().join(format!("prompush-layering-{}-{name}", std::process::id()));
    for (path, text) in files {
        let file = root.join(path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let report = Graph::read(&root).report();
    let _ = std::fs::remove_dir_all(&root);
    report
}

#[test]
fn an_upward_import_and_its_cycle_are_named_with_file_and_line() {
    let report = report_on(
        "upward",
        &[
            ("lib.rs", "mod pipeline;\nmod transport;\n"),
            (
                "pipeline.rs",
                "use crate::transport::Sender;\npub(crate) struct Task;\n",
            ),
            (
                "transport.rs",
                "pub(crate) struct Sender;\nfn f() {\n    crate::pipeline::Task;\n}\n",
            ),
        ],
    );
    assert!(
        report.contains("import cycle between 2 files: pipeline.rs, transport.rs"),
        "{report}"
    );
    assert!(report.contains("upward import: transport.rs:3 (transport) imports crate::pipeline::Task from pipeline.rs (the push pipeline)"), "{report}");
}

#[test]
fn a_cycle_behind_a_facade_is_found() {
    // prometheus.rs reaches aggregate::Cell through aggregate/mod.rs's re-export; the
    // file that defines it imports prometheus back.
    let report = report_on(
        "facade",
        &[
            ("lib.rs", "mod aggregate;\nmod prometheus;\n"),
            (
                "aggregate/mod.rs",
                "mod cell;\npub(crate) use cell::Cell;\n",
            ),
            (
                "aggregate/cell.rs",
                "use crate::prometheus::Name;\npub(crate) struct Cell;\n",
            ),
            (
                "prometheus.rs",
                "use crate::aggregate::Cell;\npub(crate) struct Name;\n",
            ),
        ],
    );
    assert!(
        report.contains("import cycle between 2 files: aggregate/cell.rs, prometheus.rs"),
        "{report}"
    );
    assert!(!report.contains("aggregate/mod.rs"), "{report}");
}
