//! The fenced code blocks of a Markdown file (```` ``` ```` fences), shared by `build.rs`
//! and `tests/dependencies.rs` so that both read the README the same way.

/// One fenced code block.
#[derive(Debug)]
pub(crate) struct Fence {
    /// The info string after the opening fence, such as `rust,no_run`.
    pub(crate) info: String,
    /// The 1-based line of the opening fence, for messages.
    pub(crate) line: usize,
    /// The lines between the fences, each ending in `\n`.
    pub(crate) body: String,
}

impl Fence {
    /// Whether rustdoc would compile this block: the first word of its info string is
    /// `rust`, and no attribute says not to.
    pub(crate) fn is_compiled_rust(&self) -> bool {
        let mut words = self
            .info
            .split([',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty());
        words.next() == Some("rust") && !words.any(|w| matches!(w, "ignore" | "compile_fail" | "text"))
    }
}

/// The fenced blocks of `markdown` in order, or the line of a fence that is never closed.
pub(crate) fn fences(markdown: &str) -> Result<Vec<Fence>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<Fence> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.as_mut() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some(Fence {
                        info: info.trim().to_owned(),
                        line: index + 1,
                        body: String::new(),
                    });
                }
            }
            Some(fence) => {
                if trimmed.starts_with("```") && trimmed.trim_end().trim_start_matches('`').is_empty() {
                    blocks.extend(open.take());
                } else {
                    fence.body.push_str(line);
                    fence.body.push('\n');
                }
            }
        }
    }
    match open {
        Some(fence) => Err(format!(
            "the code block opened on line {} is never closed",
            fence.line
        )),
        None => Ok(blocks),
    }
}
