//! Flux's `.sourceignore` semantics: which files an artifact leaves out.
//!
//! This is a native port of the matcher Flux uses (`fluxcd/pkg/sourceignore`, a fork of
//! go-git's gitignore), not git's own rules: simple names match any path component,
//! anchored patterns match path prefixes, `[^…]` negates a class (`[!…]` does not), and
//! an include pattern can re-include a file under an excluded directory. See
//! [`Pattern`] for the rules, and [`source_ignore_filter`](crate::source_ignore_filter)
//! for use with [`Storage::archive`](crate::Storage::archive).
//!
//! ```
//! use flux_artifact_storage::sourceignore::{Matcher, Pattern};
//!
//! let matcher = Matcher::with_defaults(vec![Pattern::new("!keep.zip", &[])], &[]);
//! assert!(matcher.is_excluded(&[".git", "config"], false)); // VCS default
//! assert!(matcher.is_excluded(&["charts", "app.zip"], false)); // *.zip default
//! assert!(!matcher.is_excluded(&["keep.zip"], false)); // re-included
//! assert!(!matcher.is_excluded(&["deploy.yaml"], false));
//! ```

mod glob;
mod pattern;

use std::{
    fs,
    io::{self, BufRead, BufReader, Read},
    path::Path,
};

pub use self::pattern::Pattern;

/// Name of the ignore file read in every directory by [`load_ignore_patterns`].
pub const IGNORE_FILE: &str = ".sourceignore";
/// Version-control files, always excluded by [`source_ignore_filter`](crate::source_ignore_filter).
pub const EXCLUDE_VCS: &str = ".git/,.gitignore,.gitmodules,.gitattributes";
/// File types excluded by default.
pub const EXCLUDE_EXT: &str = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip";
/// CI configuration excluded by default.
pub const EXCLUDE_CI: &str = ".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,codeship-services.yml,codeship-steps.yml";
/// Tooling files excluded by default.
pub const EXCLUDE_EXTRA: &str = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml";

/// The outcome of matching one pattern, in the style of the `ignore` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The pattern does not apply to the path.
    None,
    /// The pattern excludes the path.
    Exclude,
    /// The pattern (a `!` pattern) re-includes the path.
    Include,
}

/// An ordered list of patterns in which the last one that matches decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// A matcher over `patterns`, later ones taking precedence.
    #[must_use]
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Matcher { patterns }
    }

    /// The VCS and default patterns (lowest precedence) followed by `patterns`
    /// (Go: `NewDefaultMatcher`).
    #[must_use]
    pub fn with_defaults(patterns: Vec<Pattern>, domain: &[&str]) -> Self {
        let mut all = vcs_patterns(domain);
        all.extend(default_patterns(domain));
        all.extend(patterns);
        Matcher::new(all)
    }

    /// Whether the path (components relative to the archive root, as `&str`s or
    /// anything that is one) is excluded.
    #[must_use]
    pub fn is_excluded<S: AsRef<str>>(&self, path: &[S], is_dir: bool) -> bool {
        self.patterns
            .iter()
            .rev()
            .map(|p| p.matches(path, is_dir))
            .find(|m| *m != Match::None)
            .is_some_and(|m| m == Match::Exclude)
    }

    /// The patterns, lowest precedence first.
    #[must_use]
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }
}

fn parse_list(list: &str, domain: &[&str]) -> Vec<Pattern> {
    list.split(',').map(|p| Pattern::new(p, domain)).collect()
}

/// The patterns of [`EXCLUDE_VCS`].
#[must_use]
pub fn vcs_patterns(domain: &[&str]) -> Vec<Pattern> {
    parse_list(EXCLUDE_VCS, domain)
}

/// The patterns of [`EXCLUDE_EXT`], [`EXCLUDE_CI`] and [`EXCLUDE_EXTRA`].
#[must_use]
pub fn default_patterns(domain: &[&str]) -> Vec<Pattern> {
    [EXCLUDE_EXT, EXCLUDE_CI, EXCLUDE_EXTRA]
        .iter()
        .flat_map(|list| parse_list(list, domain))
        .collect()
}

/// Reads patterns, one per line, skipping blank lines and lines that start with `#`.
/// Bytes that are not UTF-8 are read as U+FFFD.
///
/// # Errors
///
/// Any read error of `reader`.
pub fn read_patterns(reader: impl Read, domain: &[&str]) -> io::Result<Vec<Pattern>> {
    let mut patterns = Vec::new();
    let mut reader = BufReader::new(reader);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.starts_with('#') && !line.trim().is_empty() {
            patterns.push(Pattern::new(line, domain));
        }
    }
    Ok(patterns)
}

/// Reads the [`IGNORE_FILE`] of `dir` and, recursively, of every subdirectory but
/// `.git`, each scoped to its own directory (Go: `LoadIgnorePatterns`).
///
/// `dir` is the archive root: the domains of the patterns found are relative to it.
/// Directories are visited in name order, parents before children; symlinks are not
/// followed.
///
/// # Errors
///
/// An I/O error reading a directory or an ignore file, with the path in its message.
pub fn load_ignore_patterns(dir: &Path) -> io::Result<Vec<Pattern>> {
    let mut patterns = Vec::new();
    load_into(dir, &mut Vec::new(), &mut patterns)?;
    Ok(patterns)
}

fn load_into(dir: &Path, domain: &mut Vec<String>, patterns: &mut Vec<Pattern>) -> io::Result<()> {
    let with_path = |path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
    };
    let file = dir.join(IGNORE_FILE);
    match fs::File::open(&file) {
        Ok(f) => {
            let scope: Vec<&str> = domain.iter().map(String::as_str).collect();
            patterns.extend(read_patterns(f, &scope).map_err(with_path(&file))?);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(with_path(&file)(e)),
    }
    let mut subdirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(with_path(dir))? {
        let entry = entry.map_err(with_path(dir))?;
        if entry.file_type().map_err(with_path(&entry.path()))?.is_dir() && entry.file_name() != ".git" {
            subdirs.push(entry.file_name());
        }
    }
    subdirs.sort();
    for name in subdirs {
        domain.push(name.to_string_lossy().into_owned());
        load_into(&dir.join(&name), domain, patterns)?;
        domain.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(lines: &str) -> Matcher {
        Matcher::new(read_patterns(lines.as_bytes(), &[]).unwrap())
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let m = matcher("*.yaml\n!keep.yaml\n");
        assert!(m.is_excluded(&["drop.yaml"], false));
        assert!(!m.is_excluded(&["keep.yaml"], false));
        let m = matcher("!keep.yaml\n*.yaml\n");
        assert!(m.is_excluded(&["keep.yaml"], false));
    }

    #[test]
    fn include_can_reach_under_an_excluded_directory() {
        let m = matcher("build/\n!build/keep.txt\n");
        assert!(m.is_excluded(&["build"], true));
        assert!(m.is_excluded(&["build", "x.txt"], false));
        assert!(!m.is_excluded(&["build", "keep.txt"], false));
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_handled() {
        let patterns = read_patterns("# comment\n\n   \n*.tmp\r\n #not-a-comment\n".as_bytes(), &[]).unwrap();
        assert_eq!(patterns.len(), 2);
        let m = Matcher::new(patterns);
        assert!(m.is_excluded(&["a.tmp"], false));
        assert!(m.is_excluded(&[" #not-a-comment"], false));
    }

    #[test]
    fn defaults_exclude_vcs_images_ci_and_tooling() {
        let m = Matcher::with_defaults(Vec::new(), &[]);
        for (path, is_dir) in [
            (&[".git"][..], true),
            (&[".git", "HEAD"][..], false),
            (&[".gitignore"][..], false),
            (&["img", "logo.png"][..], false),
            (&["app.tar.gz"][..], false),
            (&[".github", "workflows", "ci.yml"][..], false),
            (&[".gitlab-ci.yml"][..], false),
            (&["deep", "dir", ".sops.yaml"][..], false),
            (&[".flux.yaml"][..], false),
        ] {
            assert!(m.is_excluded(path, is_dir), "{path:?}");
        }
        assert!(!m.is_excluded(&["apps", "deploy.yaml"], false));
        assert!(!m.is_excluded(&["README.md"], false));
    }
}
