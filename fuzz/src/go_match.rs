//! An independent model of Go's `path.Match` (and `filepath.Match` on Unix) for one
//! path component: `*` any run of characters, `?` one character, `[...]` a class with
//! `^` negation, ranges and `\` escapes, `\` escaping outside a class. It shares no code
//! with the matchers under test, and favours being obviously right over speed.
//!
//! It steps through characters, not bytes: Go's `*` steps through bytes, so a class
//! after it can match a lone UTF-8 continuation byte (`*[^ü]` matches `ü` in Go); the
//! matchers under test work on characters too (docs/security.md, "Noticed").

/// One element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Char(char),
    Any,
    Star,
    /// Negated, and the inclusive ranges.
    Class(bool, Vec<(char, char)>),
}

/// Parses `pattern` with Go's syntax; `None` where Go reports `ErrBadPattern` (a
/// trailing `\`, an unterminated or empty class, an unescaped `-` or `]` where a class
/// character belongs, a class character that ends the pattern).
pub fn parse(pattern: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let class_char = |i: &mut usize| -> Option<char> {
        let c = match *chars.get(*i)? {
            '-' | ']' => return None,
            '\\' => {
                *i += 1;
                *chars.get(*i)?
            }
            c => c,
        };
        *i += 1;
        // Go wants something after every class character.
        chars.get(*i)?;
        Some(c)
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => {
                let c = *chars.get(i)?;
                i += 1;
                Tok::Char(c)
            }
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.get(i) == Some(&']') {
                        i += 1;
                        break;
                    }
                    let lo = class_char(&mut i)?;
                    let hi = if chars.get(i) == Some(&'-') {
                        i += 1;
                        class_char(&mut i)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Tok::Class(negated, ranges)
            }
            c => Tok::Char(c),
        });
    }
    Some(out)
}

/// Whether `name` (no `/` in it) matches the parsed glob: plain recursion over
/// (token, position), memoised.
pub fn matches(tokens: &[Tok], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let mut memo = vec![vec![None; name.len() + 1]; tokens.len() + 1];
    fn go(t: usize, n: usize, tokens: &[Tok], name: &[char], memo: &mut Vec<Vec<Option<bool>>>) -> bool {
        if let Some(done) = memo[t][n] {
            return done;
        }
        let result = match tokens.get(t) {
            None => n == name.len(),
            Some(Tok::Star) => {
                go(t + 1, n, tokens, name, memo) || (n < name.len() && go(t, n + 1, tokens, name, memo))
            }
            Some(token) => {
                n < name.len()
                    && match token {
                        Tok::Char(c) => *c == name[n],
                        Tok::Any => true,
                        Tok::Class(negated, ranges) => {
                            ranges.iter().any(|&(lo, hi)| lo <= name[n] && name[n] <= hi) != *negated
                        }
                        Tok::Star => unreachable!(),
                    }
                    && go(t + 1, n + 1, tokens, name, memo)
            }
        };
        memo[t][n] = Some(result);
        result
    }
    go(0, 0, tokens, &name, &mut memo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> Option<bool> {
        parse(pattern).map(|t| matches(&t, name))
    }

    #[test]
    fn go_examples() {
        assert_eq!(m("*.yaml", "a.yaml"), Some(true));
        assert_eq!(m("*", ""), Some(true));
        assert_eq!(m("a?c", "abc"), Some(true));
        assert_eq!(m("[a-c]x", "dx"), Some(false));
        assert_eq!(m("[^a-c]x", "dx"), Some(true));
        assert_eq!(m("[\\]]", "]"), Some(true));
        assert_eq!(m("[!a]", "!"), Some(true));
        assert_eq!(m("]", "]"), Some(true));
        assert_eq!(m("\\*", "*"), Some(true));
        assert_eq!(m("\\*", "a"), Some(false));
    }

    #[test]
    fn go_bad_patterns() {
        for bad in [
            "[", "[]", "[a", "[a-", "[a-]", "[-a]", "[]a]", "a\\", "[^]", "[\\",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
