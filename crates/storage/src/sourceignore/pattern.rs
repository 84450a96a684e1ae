//! One ignore pattern with the semantics of Flux's `sourceignore/gitignore` (a fork of
//! go-git's matcher), which differ from git's in ways artifacts depend on:
//!
//! - a pattern without `/` is a *simple name*, matched against every component of the
//!   path, so `vendor` excludes `a/vendor/b` and everything under any `vendor`;
//! - a pattern with `/` is anchored at its domain (the directory of the ignore file) and
//!   matches a path whose leading components match it, so `apps/dev` excludes
//!   `apps/dev/x.yaml` too;
//! - `**` is special only as a whole segment: leading (any depth) or trailing
//!   (everything below); a segment like `a**` matches nothing;
//! - a trailing `/` makes a pattern match directories (and, through them, what is
//!   below), not a file of that name;
//! - `!` re-includes; the last matching pattern wins, and it can re-include a file
//!   under an excluded directory (git cannot).

use super::{Match, glob::Glob};

/// A parsed ignore pattern, scoped to a domain (the path, relative to the archive root,
/// of the directory whose ignore file it came from; empty for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    domain: Vec<String>,
    segments: Vec<Segment>,
    include: bool,
    dir_only: bool,
    anchored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// An empty segment: from a leading `/` or a `//`.
    Empty,
    /// `**` as a whole segment.
    AnyDepth,
    /// A segment containing `**` among other characters: never matches.
    Invalid,
    Glob(Glob),
}

impl Pattern {
    /// Parses one line of an ignore file (without its newline) for paths under `domain`.
    ///
    /// A leading `!` makes it an include pattern; trailing spaces are dropped unless the
    /// last one is escaped (`\ `); a trailing `/` restricts it to directories.
    #[must_use]
    pub fn new(pattern: &str, domain: &[&str]) -> Self {
        let (include, mut text) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if !text.ends_with("\\ ") {
            text = text.trim_end_matches(' ');
        }
        let dir_only = text.ends_with('/');
        if dir_only {
            text = &text[..text.len() - 1];
        }
        let anchored = text.contains('/');
        let segments = text
            .split('/')
            .map(|segment| match segment {
                "" => Segment::Empty,
                // Special only in a pattern with a `/`: alone, `**` is a simple name
                // that matches every name, as `filepath.Match` reads it.
                "**" if anchored => Segment::AnyDepth,
                s if s.contains("**") && anchored => Segment::Invalid,
                s => Segment::Glob(Glob::new(s)),
            })
            .collect();
        Pattern {
            domain: domain.iter().map(|&d| d.to_owned()).collect(),
            segments,
            include,
            dir_only,
            anchored,
        }
    }

    /// Matches a path given as components relative to the archive root (`&str`s, or
    /// anything that is one, such as `String` or `Cow<str>`).
    #[must_use]
    pub fn matches<S: AsRef<str>>(&self, path: &[S], is_dir: bool) -> Match {
        if path.len() <= self.domain.len() || !self.domain.iter().zip(path).all(|(d, p)| d == p.as_ref()) {
            return Match::None;
        }
        let path = &path[self.domain.len()..];
        let matched = if self.anchored {
            self.anchored_match(path, is_dir)
        } else {
            self.simple_name_match(path, is_dir)
        };
        match (matched, self.include) {
            (false, _) => Match::None,
            (true, true) => Match::Include,
            (true, false) => Match::Exclude,
        }
    }

    fn simple_name_match<S: AsRef<str>>(&self, path: &[S], is_dir: bool) -> bool {
        let Some(Segment::Glob(glob)) = self.segments.first() else {
            // A simple name is one segment; an empty one (the pattern "/") matches nothing.
            return false;
        };
        match path.iter().position(|name| glob.matches(name.as_ref())) {
            // A dir-only name matching the last component needs that to be a directory;
            // matching an earlier component means the path is below such a directory.
            Some(i) => !(self.dir_only && !is_dir && i == path.len() - 1),
            None => false,
        }
    }

    fn anchored_match<S: AsRef<str>>(&self, mut path: &[S], is_dir: bool) -> bool {
        let mut matched = false;
        let mut any_depth = false;
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            let glob = match segment {
                Segment::Empty => {
                    any_depth = false;
                    continue;
                }
                Segment::AnyDepth if i == last => break,
                Segment::AnyDepth => {
                    any_depth = true;
                    continue;
                }
                Segment::Invalid => return false,
                Segment::Glob(glob) => glob,
            };
            if path.is_empty() {
                return false;
            }
            if any_depth {
                any_depth = false;
                // Skip components until one matches; reaching the end is a mismatch.
                match path.iter().position(|name| glob.matches(name.as_ref())) {
                    Some(found) => {
                        matched = true;
                        path = &path[found + 1..];
                    }
                    None => {
                        matched = false;
                        path = &[];
                    }
                }
            } else {
                if !glob.matches(path[0].as_ref()) {
                    return false;
                }
                matched = true;
                path = &path[1..];
            }
        }
        // Like a simple name, a dir-only pattern that ends exactly at a file misses it.
        matched && !(self.dir_only && !is_dir && path.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(pattern: &str, path: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        Pattern::new(pattern, &[]).matches(&parts, is_dir) == Match::Exclude
    }

    #[test]
    fn simple_names_match_any_component() {
        assert!(excluded("vendor", "vendor", true));
        assert!(excluded("vendor", "a/vendor/b.go", false));
        assert!(excluded("*.zip", "charts/app.zip", false));
        assert!(!excluded("*.zip", "charts/app.zipx", false));
    }

    #[test]
    fn dir_only_simple_names_skip_files_of_that_name() {
        assert!(excluded(".git/", ".git", true));
        assert!(!excluded(".git/", ".git", false));
        assert!(excluded(".git/", ".git/config", false));
        assert!(excluded(".github/", "sub/.github/workflows/ci.yml", false));
    }

    #[test]
    fn anchored_patterns_match_from_the_domain_and_cover_what_is_below() {
        assert!(excluded("apps/dev", "apps/dev", true));
        assert!(excluded("apps/dev", "apps/dev/x.yaml", false));
        assert!(!excluded("apps/dev", "x/apps/dev", true));
        assert!(excluded("/root.yaml", "root.yaml", false));
        assert!(!excluded("/root.yaml", "sub/root.yaml", false));
    }

    #[test]
    fn anchored_dir_only_patterns_skip_a_file_of_that_path() {
        assert!(excluded("apps/dev/", "apps/dev", true));
        assert!(!excluded("apps/dev/", "apps/dev", false));
        assert!(excluded("apps/dev/", "apps/dev/x.yaml", false));
    }

    #[test]
    fn leading_double_star_matches_at_any_depth() {
        assert!(excluded("**/.sops.yaml", ".sops.yaml", false));
        assert!(excluded("**/.sops.yaml", "a/b/.sops.yaml", false));
        assert!(!excluded("**/.sops.yaml", "a/b/sops.yaml", false));
        assert!(excluded("**/test/*.yaml", "x/y/test/a.yaml", false));
    }

    #[test]
    fn trailing_double_star_matches_everything_below() {
        assert!(excluded("deploy/**", "deploy/a/b/c", false));
        assert!(excluded("deploy/**", "deploy", true));
        assert!(!excluded("deploy/**", "other/a", false));
    }

    #[test]
    fn a_lone_double_star_is_a_simple_name_matching_everything() {
        assert!(excluded("**", "a", false));
        assert!(excluded("**", "a/b/c.yaml", false));
        assert!(excluded("**/", "a", true));
        assert!(!excluded("**/", "a", false));
        assert!(excluded("**/", "a/b.yaml", false));
        let p = Pattern::new("!**", &[]);
        assert_eq!(p.matches(&["x"], false), Match::Include);
    }

    #[test]
    fn double_star_inside_a_segment_of_an_anchored_pattern_matches_nothing() {
        assert!(!excluded("a/b**", "a/bc", false));
        assert!(!excluded("a/**b", "a/b", false));
    }

    #[test]
    fn negation_uses_caret_not_bang() {
        assert!(excluded("[^a]*.yaml", "b.yaml", false));
        assert!(!excluded("[^a]*.yaml", "a.yaml", false));
        assert!(!excluded("[!a]*.yaml", "b.yaml", false));
    }

    #[test]
    fn trailing_spaces_are_trimmed_unless_escaped() {
        assert!(excluded("notes.txt   ", "notes.txt", false));
        assert!(excluded("notes\\ ", "notes ", false));
    }

    #[test]
    fn include_patterns_report_include() {
        let p = Pattern::new("!keep.yaml", &[]);
        assert_eq!(p.matches(&["keep.yaml"], false), Match::Include);
        assert_eq!(p.matches(&["other.yaml"], false), Match::None);
    }

    #[test]
    fn a_domain_scopes_the_pattern_to_paths_strictly_below_it() {
        let p = Pattern::new("*.yaml", &["apps"]);
        assert_eq!(p.matches(&["apps", "a.yaml"], false), Match::Exclude);
        assert_eq!(p.matches(&["apps"], true), Match::None);
        assert_eq!(p.matches(&["other", "a.yaml"], false), Match::None);
        let anchored = Pattern::new("/dev", &["apps"]);
        assert_eq!(anchored.matches(&["apps", "dev", "x"], false), Match::Exclude);
        assert_eq!(anchored.matches(&["dev"], true), Match::None);
    }
}
