//! Shell patterns for one path component, with the syntax of Go's `filepath.Match`
//! (which Flux's ignore matcher uses): `*`, `?`, `[…]` classes negated with `^` (not
//! `!`), ranges `a-z`, and `\` escapes. A malformed pattern matches nothing, as in Go,
//! where `Match` then returns an error that the ignore matcher treats as no match.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    AnySequence,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled component pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    matcher: Compiled,
}

/// How a pattern is matched. The common shapes (a plain name, `*` then a plain suffix)
/// compare bytes, which gives the same answer as the token matcher on them; the rest
/// go through the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Compiled {
    /// A malformed pattern: matches nothing.
    Malformed,
    /// Literal characters only: the name must equal them.
    Exact(String),
    /// `*` followed by literal characters only: the name must end with them.
    Suffix(String),
    Tokens(Vec<Token>),
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Self {
        let matcher = match compile(pattern) {
            None => Compiled::Malformed,
            Some(tokens) => match tokens.split_first() {
                Some((Token::AnySequence, rest)) => match literal(rest) {
                    Some(suffix) => Compiled::Suffix(suffix),
                    None => Compiled::Tokens(tokens),
                },
                _ => match literal(&tokens) {
                    Some(exact) => Compiled::Exact(exact),
                    None => Compiled::Tokens(tokens),
                },
            },
        };
        Glob { matcher }
    }

    /// Whether `name` matches the whole pattern. Allocates nothing.
    pub(crate) fn matches(&self, name: &str) -> bool {
        match &self.matcher {
            Compiled::Malformed => false,
            Compiled::Exact(exact) => name == exact,
            Compiled::Suffix(suffix) => name.ends_with(suffix.as_str()),
            Compiled::Tokens(tokens) => match_tokens(tokens, name),
        }
    }

    #[cfg(test)]
    fn is_malformed(&self) -> bool {
        self.matcher == Compiled::Malformed
    }
}

/// The text of `tokens` if they are all literal characters.
fn literal(tokens: &[Token]) -> Option<String> {
    tokens
        .iter()
        .map(|token| match token {
            Token::Literal(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Iterative wildcard matching over the characters of `name`, by byte offset: on a
/// mismatch, let the most recent `*` swallow one more character and retry from there.
/// Linear in practice, never exponential.
fn match_tokens(tokens: &[Token], name: &str) -> bool {
    let (mut t, mut n) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(c) = name[n..].chars().next() {
        match tokens.get(t) {
            Some(Token::AnySequence) => {
                backtrack = Some((t, n));
                t += 1;
                continue;
            }
            Some(token) if token.matches_one(c) => {
                t += 1;
                n += c.len_utf8();
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((star, from)) => {
                let skipped = name[from..].chars().next().map_or(1, char::len_utf8);
                t = star + 1;
                n = from + skipped;
                backtrack = Some((star, n));
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|token| *token == Token::AnySequence)
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => true,
            Token::AnySequence => false,
            Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

fn compile(pattern: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' => Token::AnySequence,
            '?' => Token::AnyChar,
            '\\' => Token::Literal(chars.next()?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            literal => Token::Literal(literal),
        };
        tokens.push(token);
    }
    Some(tokens)
}

/// A character inside a class: `-` and `]` must be escaped there, and the class must
/// go on after it (an unterminated class is malformed).
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let c = match chars.next()? {
        '-' | ']' => return None,
        '\\' => chars.next()?,
        c => c,
    };
    chars.peek()?;
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).matches(name)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*.yaml", "deploy.yaml"));
        assert!(m("*", ""));
        assert!(m("**", "anything"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("?ello", "hello"));
        assert!(m("h?llo", "hällo"));
        assert!(!m("?", ""));
        assert!(!m("*.yaml", "deploy.yml"));
    }

    #[test]
    fn classes_negate_with_caret_only() {
        assert!(m("[abc]x", "bx"));
        assert!(m("[a-c]x", "cx"));
        assert!(!m("[^a-c]x", "cx"));
        assert!(m("[^a-c]x", "dx"));
        // `!` is a literal in Go's classes.
        assert!(m("[!a]x", "!x"));
        assert!(m("[!a]x", "ax"));
        assert!(!m("[!a]x", "bx"));
    }

    #[test]
    fn escapes_make_specials_literal() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
    }

    #[test]
    fn malformed_patterns_match_nothing() {
        for bad in ["[", "[a", "[]", "[]a]", "[-a]", "[a-]", "a\\", "[^]", "x[a-"] {
            assert!(Glob::new(bad).is_malformed(), "{bad}");
            assert!(!m(bad, "a"), "{bad}");
            assert!(!m(bad, ""), "{bad}");
        }
    }

    #[test]
    fn stars_backtrack_over_multibyte_characters() {
        assert!(m("*ä*b", "xäyäb"));
        assert!(m("*é", "ééé"));
        assert!(!m("*é?", "ééé\u{10ffff}x"));
        assert!(m("[à-ü]*[^a]", "éxß"));
    }

    #[test]
    fn plain_names_and_suffixes_agree_with_the_token_matcher() {
        let patterns = [
            "", "*", ".git", "\\*x", "*.tar.gz", "*é", "a\\?", "*\\[x]", "**", "*a*", "?", "[a]",
        ];
        let names = [
            "", "x", ".git", ".gitx", "*x", "a.tar.gz", "a.tar", "é", "éé", "a?", "ab", "[x]", "a[x]",
        ];
        for pattern in patterns {
            let glob = Glob::new(pattern);
            let tokens = compile(pattern).unwrap();
            for name in names {
                assert_eq!(
                    glob.matches(name),
                    match_tokens(&tokens, name),
                    "{pattern:?} on {name:?}"
                );
            }
        }
        assert_eq!(Glob::new(".git").matcher, Compiled::Exact(".git".into()));
        assert_eq!(Glob::new("*.zip").matcher, Compiled::Suffix(".zip".into()));
        assert_eq!(Glob::new("\\*").matcher, Compiled::Exact("*".into()));
    }

    #[test]
    fn long_inputs_do_not_backtrack_exponentially() {
        let name = "a".repeat(10_000);
        assert!(!m("*a*a*a*a*a*a*a*b", &name));
    }
}
