//! The glob of a non-Extract `from`: Go's `fs.Glob` with `path.Match` syntax, as
//! source-watcher uses it.
//!
//! Each `/`-separated segment matches one path component: `*` any run of characters,
//! `?` one character, `[...]` a class (`^` negates; `-` and `]` must be escaped inside),
//! `\` escapes. There is no recursive `**`: it is two `*`, so it matches one component.

use std::ffi::OsString;

use super::source::{Found, RelPath, SourceTree};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One compiled segment of a Go glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    tokens: Vec<Token>,
    /// The segment has no meta characters: it names one entry.
    literal: Option<String>,
}

/// Whether a segment needs matching against directory entries (Go's `hasMeta`).
fn has_meta(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '\\'])
}

impl Segment {
    /// Compiles one segment.
    ///
    /// # Errors
    ///
    /// The reason the segment is malformed, as Go's `path.ErrBadPattern` cases.
    pub(crate) fn new(segment: &str) -> Result<Segment, String> {
        let chars: Vec<char> = segment.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::AnyChar);
                    i += 1;
                }
                '\\' => {
                    let Some(&c) = chars.get(i + 1) else {
                        return Err(format!("'{segment}' ends with an escaping '\\'"));
                    };
                    tokens.push(Token::Literal(c));
                    i += 2;
                }
                '[' => {
                    let (class, next) = parse_class(segment, &chars, i + 1)?;
                    tokens.push(class);
                    i = next;
                }
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        let literal = (!has_meta(segment)).then(|| segment.to_owned());
        Ok(Segment { tokens, literal })
    }

    /// The name this segment stands for when it has no meta character: `expand` looks
    /// it up instead of matching (read by the fuzz targets).
    #[cfg(fuzzing)]
    pub(crate) fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Whether `name` (one path component) matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut t, mut n) = (0, 0);
        // Where the last `*` is, and how much of the name it has taken so far.
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(token) = self.tokens.get(t) {
                if *token == Token::Star {
                    star = Some((t, n));
                    t += 1;
                    continue;
                }
                if n < name.len() && token_matches(token, name[n]) {
                    t += 1;
                    n += 1;
                    continue;
                }
            } else if n == name.len() {
                return true;
            }
            match star {
                Some((star_t, star_n)) if star_n < name.len() => {
                    star = Some((star_t, star_n + 1));
                    t = star_t + 1;
                    n = star_n + 1;
                }
                _ => return false,
            }
        }
    }
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyChar => c != '/',
        Token::Star => true,
        Token::Class { negated, ranges } => {
            let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
            inside != *negated && c != '/'
        }
    }
}

/// Parses a class whose `[` is just before `start`; returns it and the index after `]`.
fn parse_class(segment: &str, chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let unterminated = || format!("'{segment}' has an unterminated or empty '[' class");
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Token::Class { negated, ranges }, i + 1));
        }
        let lo = class_char(chars, &mut i).ok_or_else(unterminated)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(chars, &mut i).ok_or_else(unterminated)?;
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly escaped) character of a class; `None` where Go reports a bad pattern:
/// the end of the pattern, or an unescaped `-` or `]`.
fn class_char(chars: &[char], i: &mut usize) -> Option<char> {
    let mut c = *chars.get(*i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i)?;
    }
    *i += 1;
    // Go also wants something after every class character: a class cannot end the
    // pattern unterminated.
    chars.get(*i)?;
    Some(c)
}

/// A compiled Go glob: one [`Segment`] per path component.
#[derive(Debug, Clone)]
pub(crate) struct GoGlob {
    segments: Vec<Segment>,
}

impl GoGlob {
    /// Compiles the `/`-separated `segments` of a pattern.
    ///
    /// # Errors
    ///
    /// The reason the first malformed segment is malformed.
    pub(crate) fn new(segments: &[String]) -> Result<GoGlob, String> {
        let segments = segments
            .iter()
            .map(|s| Segment::new(s))
            .collect::<Result<_, _>>()?;
        Ok(GoGlob { segments })
    }

    /// The compiled segments, one per path component (the fuzz targets model
    /// [`expand`](Self::expand) with them).
    #[cfg(fuzzing)]
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Every directory and regular file of `source` that matches, in Go's order:
    /// component by component, each directory's entries by name. Symlinks and special
    /// files never match, and are never entered.
    ///
    /// # Errors
    ///
    /// Reading a directory failed (other than it being missing).
    pub(crate) fn expand(&self, source: &SourceTree<'_>) -> std::io::Result<Vec<(RelPath, Found)>> {
        let mut current: Vec<(RelPath, Found)> = vec![(Vec::new(), Found::Dir)];
        for segment in &self.segments {
            let mut next = Vec::new();
            for (dir, _) in current.iter().filter(|(_, found)| *found == Found::Dir) {
                if let Some(name) = &segment.literal {
                    let name = OsString::from(name);
                    let found = source.child(dir, &name)?;
                    if found.is_usable() {
                        let mut path = dir.clone();
                        path.push(name);
                        next.push((path, found));
                    }
                    continue;
                }
                for (name, found) in source.list(dir)? {
                    if found.is_usable() && segment.matches(&name.to_string_lossy()) {
                        let mut path = dir.clone();
                        path.push(name);
                        next.push((path, found));
                    }
                }
            }
            current = next;
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        Segment::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn star_matches_any_run_including_dot_files() {
        assert!(matches("*.yaml", "app.yaml"));
        assert!(matches("*", ".hidden"));
        assert!(matches("*", ""));
        assert!(!matches("*.yaml", "app.yml"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn double_star_is_a_plain_star() {
        assert!(matches("**", "anything"));
        assert!(matches("**.yaml", "app.yaml"));
    }

    #[test]
    fn question_mark_matches_one_character() {
        assert!(matches("?.txt", "a.txt"));
        assert!(matches("?.txt", "é.txt"));
        assert!(!matches("?.txt", "ab.txt"));
    }

    #[test]
    fn classes_ranges_negation_and_escapes() {
        assert!(matches("[abc].yaml", "b.yaml"));
        assert!(matches("[a-c]x", "cx"));
        assert!(!matches("[a-c]x", "dx"));
        assert!(matches("[^a-c]x", "dx"));
        assert!(!matches("[^a-c]x", "ax"));
        assert!(matches("[\\]]", "]"));
        assert!(matches("[\\-]", "-"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
        // `!` does not negate in Go.
        assert!(matches("[!a]", "!"));
    }

    #[test]
    fn malformed_segments_are_refused_as_go_does() {
        for bad in ["[", "[]", "[a", "[a-", "[a-]", "[-a]", "[]a]", "a\\", "[^]"] {
            assert!(Segment::new(bad).is_err(), "{bad}");
        }
        for good in ["]", "a]", "{a,b}", "[a]", "[\\]a]"] {
            assert!(Segment::new(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn literal_segments_are_recognised() {
        assert_eq!(
            Segment::new("app.yaml").unwrap().literal.as_deref(),
            Some("app.yaml")
        );
        assert_eq!(Segment::new("a]b").unwrap().literal.as_deref(), Some("a]b"));
        assert_eq!(Segment::new("a\\b").unwrap().literal, None);
    }
}
