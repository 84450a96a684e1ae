//! Writes the README's Rust code blocks into `OUT_DIR`, one module each, for `src/lib.rs`
//! to include: so `cargo build` compiles them with this crate's dependencies, which
//! `tests/dependencies.rs` holds to the README's own `[dependencies]` block.

#[path = "fences.rs"]
mod fences;

use std::{env, fmt::Write as _, fs, path::PathBuf};

fn main() {
    if let Err(message) = run() {
        eprintln!("error: README.md: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let readme = manifest_dir.join("../../README.md");
    println!("cargo::rerun-if-changed={}", readme.display());
    println!("cargo::rerun-if-changed=fences.rs");

    let markdown =
        fs::read_to_string(&readme).map_err(|e| format!("cannot read {}: {e}", readme.display()))?;
    let mut modules = String::new();
    for fence in fences::fences(&markdown)?.iter().filter(|f| f.is_compiled_rust()) {
        let name = format!("readme_line_{}", fence.line);
        let file = out_dir.join(format!("{name}.rs"));
        fs::write(&file, rust_source(&fence.body))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        // A compile error points into `<name>.rs`: its line N is README line `fence.line + N`.
        let _ = writeln!(
            modules,
            "/// README.md, the code block that opens on line {line} (`{info}`).\n\
             #[allow(dead_code)]\n\
             mod {name} {{\n    include!({file:?});\n}}",
            line = fence.line,
            info = fence.info,
            file = file.display().to_string(),
        );
    }
    if modules.is_empty() {
        return Err("no Rust code block to compile (```rust): the check would be empty".to_owned());
    }
    fs::write(out_dir.join("readme.rs"), modules).map_err(|e| format!("cannot write readme.rs: {e}"))
}

/// The block as rustdoc compiles it: `# ` hidden lines shown, and the code wrapped in a
/// `fn main` unless it has one.
fn rust_source(body: &str) -> String {
    let code: String = body
        .lines()
        .map(|line| match line.trim_start() {
            "#" => "",
            trimmed => trimmed.strip_prefix("# ").unwrap_or(line),
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    if code.contains("fn main") {
        code
    } else {
        format!("fn main() {{\n{code}}}\n")
    }
}
