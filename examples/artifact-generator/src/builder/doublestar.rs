//! Doublestar globs (`github.com/bmatcuk/doublestar/v4` syntax), used by source-watcher
//! for excludes and for the `from` of Extract operations.
//!
//! `**` as a whole path segment matches zero or more directories (`a/**` also matches
//! `a`); anywhere else it is a `*`. `*` matches a run of characters within a segment,
//! `?` one character, `[...]` a class (`!` or `^` negates), `{a,b}` alternatives
//! (nestable), and `\` escapes.

use super::source::{Found, RelPath, SourceTree, slash_path};

/// Alternatives beyond this many (`{a,b}{c,d}...` multiplies) make a pattern invalid,
/// so that a pattern cannot make matching explode.
const MAX_ALTERNATIVES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    Star,
    Class { negated: bool, items: Vec<(char, char)> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more path segments.
    Globstar,
    Tokens(Vec<Token>),
}

/// A compiled doublestar pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// One segment list per brace alternative.
    alternatives: Vec<Vec<Segment>>,
}

impl Pattern {
    /// Compiles `pattern`.
    ///
    /// # Errors
    ///
    /// Why it is malformed: an unterminated or empty class, unbalanced braces, a
    /// trailing `\`, or too many alternatives.
    pub(crate) fn new(pattern: &str) -> Result<Pattern, String> {
        validate(pattern)?;
        let mut alternatives = Vec::new();
        for alternative in expand_braces(pattern)? {
            let segments = split_segments(&alternative)
                .iter()
                .map(|s| compile_segment(s))
                .collect::<Result<_, _>>()?;
            alternatives.push(segments);
        }
        Ok(Pattern { alternatives })
    }

    /// Whether the `/`-separated relative `path` matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let names: Vec<&str> = path.split('/').collect();
        self.alternatives
            .iter()
            .any(|segments| match_segments(segments, &names))
    }

    /// Whether some path below the directory `dir` (its components) could match, so
    /// that a walk need not enter directories that cannot lead to a match.
    pub(crate) fn may_match_below(&self, dir: &[&str]) -> bool {
        self.alternatives.iter().any(|segments| {
            let mut states = closure(segments, vec![0]);
            for name in dir {
                let mut next = Vec::new();
                for &i in &states {
                    match segments.get(i) {
                        Some(Segment::Globstar) => next.push(i),
                        Some(Segment::Tokens(tokens)) if match_tokens(tokens, name) => next.push(i + 1),
                        _ => {}
                    }
                }
                states = closure(segments, next);
            }
            states.iter().any(|&i| i < segments.len())
        })
    }
}

/// Adds, for every state sitting on a `**`, the state after it (`**` may match nothing).
fn closure(segments: &[Segment], mut states: Vec<usize>) -> Vec<usize> {
    let mut i = 0;
    while i < states.len() {
        let s = states[i];
        if segments.get(s) == Some(&Segment::Globstar) && !states.contains(&(s + 1)) {
            states.push(s + 1);
        }
        i += 1;
    }
    states.sort_unstable();
    states.dedup();
    states
}

fn match_segments(segments: &[Segment], names: &[&str]) -> bool {
    // matched[j]: the segments processed so far match exactly names[..j].
    let mut matched = vec![false; names.len() + 1];
    matched[0] = true;
    for segment in segments {
        let mut next = vec![false; names.len() + 1];
        match segment {
            Segment::Globstar => {
                let mut reachable = false;
                for j in 0..=names.len() {
                    reachable |= matched[j];
                    next[j] = reachable;
                }
            }
            Segment::Tokens(tokens) => {
                for j in 0..names.len() {
                    if matched[j] && match_tokens(tokens, names[j]) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        matched = next;
    }
    matched[names.len()]
}

fn match_tokens(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(token) = tokens.get(t) {
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

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyChar | Token::Star => c != '/',
        Token::Class { negated, items } => {
            let inside = items.iter().any(|&(lo, hi)| lo <= c && c <= hi);
            inside != *negated
        }
    }
}

/// Checks the whole pattern as doublestar's `ValidatePattern` does.
fn validate(pattern: &str) -> Result<(), String> {
    let bytes = pattern.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                if i + 1 >= bytes.len() {
                    return Err(format!("'{pattern}' ends with an escaping '\\'"));
                }
                i += 2;
                continue;
            }
            b'[' => {
                i = class_end(bytes, i)
                    .ok_or_else(|| format!("'{pattern}' has an unterminated or empty '[' class"))?;
            }
            b'{' => depth += 1,
            b'}' => {
                if depth == 0 {
                    return Err(format!("'{pattern}' has a '}}' without a '{{'"));
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err(format!("'{pattern}' has a '{{' without a '}}'"));
    }
    Ok(())
}

/// The index of the `]` closing the class opened at `open`, if the class is valid
/// (non-empty and terminated).
fn class_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(bytes.get(i), Some(b'!' | b'^')) {
        i += 1;
    }
    if matches!(bytes.get(i), None | Some(b']')) {
        return None;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b']' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Expands `{a,b}` alternatives (outermost first, recursively), keeping escapes.
fn expand_braces(pattern: &str) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let mut pending = vec![pattern.to_owned()];
    while let Some(p) = pending.pop() {
        match find_braces(&p) {
            None => done.push(p),
            Some((open, close, commas)) => {
                let mut start = open + 1;
                for end in commas.into_iter().chain([close]) {
                    pending.push(format!("{}{}{}", &p[..open], &p[start..end], &p[close + 1..]));
                    start = end + 1;
                }
            }
        }
        if done.len() + pending.len() > MAX_ALTERNATIVES {
            return Err(format!(
                "'{pattern}' expands to more than {MAX_ALTERNATIVES} alternatives"
            ));
        }
    }
    // Popping reversed the order; it does not change what matches, but keep it stable.
    done.reverse();
    Ok(done)
}

/// The first top-level `{`, its matching `}` and the top-level commas between them.
fn find_braces(p: &str) -> Option<(usize, usize, Vec<usize>)> {
    let bytes = p.as_bytes();
    let mut i = 0;
    let mut open = None;
    let mut depth = 0usize;
    let mut commas = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'[' => {
                if let Some(end) = class_end(bytes, i) {
                    i = end;
                }
            }
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                }
                depth += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return open.map(|o| (o, i, commas));
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits at every `/` that is not escaped and not inside a class.
fn split_segments(pattern: &str) -> Vec<String> {
    let bytes = pattern.as_bytes();
    let mut segments = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => {
                if let Some(end) = class_end(bytes, i) {
                    i = end;
                }
            }
            b'/' => {
                segments.push(pattern[start..i].to_owned());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.push(pattern[start..].to_owned());
    segments
}

fn compile_segment(segment: &str) -> Result<Segment, String> {
    if segment == "**" {
        return Ok(Segment::Globstar);
    }
    let chars: Vec<char> = segment.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::AnyChar),
            '\\' => {
                i += 1;
                let c = *chars
                    .get(i)
                    .ok_or_else(|| format!("'{segment}' ends with an escaping '\\'"))?;
                tokens.push(Token::Literal(c));
            }
            '[' => {
                let (class, end) = compile_class(&chars, i)
                    .ok_or_else(|| format!("'{segment}' has an unterminated or empty '[' class"))?;
                tokens.push(class);
                i = end;
            }
            c => tokens.push(Token::Literal(c)),
        }
        i += 1;
    }
    Ok(Segment::Tokens(tokens))
}

/// Compiles the class opened at `open`; returns it and the index of its `]`.
fn compile_class(chars: &[char], open: usize) -> Option<(Token, usize)> {
    let mut i = open + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    if matches!(chars.get(i), None | Some(']')) {
        return None;
    }
    let mut items: Vec<(char, char)> = Vec::new();
    let mut last: Option<char> = None;
    loop {
        let mut c = *chars.get(i)?;
        if c == ']' {
            return Some((Token::Class { negated, items }, i));
        }
        i += 1;
        // `lo-hi`: a `-` after a character and before anything but `]`.
        if c == '-'
            && let Some(lo) = last
            && chars.get(i).is_some_and(|&n| n != ']')
        {
            if chars[i] == '\\' {
                i += 1;
            }
            let hi = *chars.get(i)?;
            i += 1;
            items.push((lo, hi));
            last = None;
            continue;
        }
        if c == '\\' {
            c = *chars.get(i)?;
            i += 1;
        }
        items.push((c, c));
        last = Some(c);
    }
}

/// Every directory and regular file of `source` that `pattern` matches, in walk order
/// (each directory's entries by name, a directory before what it holds), as
/// doublestar's `Glob` lists them. The root itself is never a match. Symlinks and
/// special files are neither matched nor entered.
///
/// # Errors
///
/// Reading a directory failed.
pub(crate) fn glob(source: &SourceTree<'_>, pattern: &Pattern) -> std::io::Result<Vec<(RelPath, Found)>> {
    let mut matches = Vec::new();
    // A stack of directories still to list, with their entries left to visit.
    let mut stack: Vec<(RelPath, std::vec::IntoIter<(std::ffi::OsString, Found)>)> =
        vec![(Vec::new(), source.list(&[])?.into_iter())];
    while let Some((dir, entries)) = stack.last_mut() {
        let Some((name, found)) = entries.next() else {
            stack.pop();
            continue;
        };
        if !found.is_usable() {
            continue;
        }
        let mut path = dir.clone();
        path.push(name);
        let slash = slash_path(&path);
        if pattern.matches(&slash) {
            matches.push((path.clone(), found));
        }
        if found == Found::Dir {
            let parts: Vec<&str> = slash.split('/').collect();
            if pattern.may_match_below(&parts) {
                let entries = source.list(&path)?.into_iter();
                stack.push((path, entries));
            }
        }
    }
    Ok(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn globstar_matches_any_depth_including_none() {
        assert!(matches("**/testdata/**", "testdata"));
        assert!(matches("**/testdata/**", "a/b/testdata/c/d.yaml"));
        assert!(matches("**/*.tgz", "x.tgz"));
        assert!(matches("**/*.tgz", "a/b/x.tgz"));
        assert!(matches("**", "a/b/c"));
        assert!(matches("a/**", "a"));
        assert!(!matches("a/**", "b/a"));
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/y/b"));
        assert!(!matches("a/**/b", "a/x/y/c"));
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(matches("*.md", "README.md"));
        assert!(!matches("*.md", "docs/README.md"));
        assert!(matches("docs/*.md", "docs/guide.md"));
        assert!(matches("*", ".hidden"));
        assert!(matches("**/.*", ".hidden"));
        // `**` inside a segment is a `*`.
        assert!(matches("a**.txt", "abc.txt"));
        assert!(!matches("a**.txt", "a/b.txt"));
    }

    #[test]
    fn classes_alternatives_and_escapes() {
        assert!(matches("[!a]*", "b"));
        assert!(matches("[^a]*", "b"));
        assert!(!matches("[!a]*", "a"));
        assert!(matches("[a-c]", "b"));
        assert!(matches("[-a]", "-"));
        assert!(matches("[a-]", "-"));
        assert!(matches("*.{yaml,yml}", "x.yml"));
        assert!(matches("{a,b/c}/d", "b/c/d"));
        assert!(matches("{a,{b,c}}x", "cx"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["[*.md", "[]", "[!]", "{a,b", "a}", "a\\"] {
            assert!(Pattern::new(bad).is_err(), "{bad}");
        }
        for good in ["]", "*.md", "{a,b}", "[\\]]", "**/x/**"] {
            assert!(Pattern::new(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn too_many_alternatives_are_refused() {
        let bomb = "{a,b}".repeat(9);
        assert!(Pattern::new(&bomb).is_err());
        assert!(Pattern::new(&"{a,b}".repeat(4)).is_ok());
    }

    #[test]
    fn pruning_keeps_directories_that_can_lead_to_a_match() {
        let p = Pattern::new("releases/**/*.tgz").unwrap();
        assert!(p.may_match_below(&["releases"]));
        assert!(p.may_match_below(&["releases", "x", "y"]));
        assert!(!p.may_match_below(&["charts"]));
        let p = Pattern::new("*.tgz").unwrap();
        assert!(!p.may_match_below(&["dir"]));
        let p = Pattern::new("**").unwrap();
        assert!(p.may_match_below(&["any", "where"]));
    }
}
