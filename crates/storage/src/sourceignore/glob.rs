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
    /// `None` if the pattern is malformed.
    tokens: Option<Vec<Token>>,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Self {
        Glob {
            tokens: compile(pattern),
        }
    }

    /// Whether `name` matches the whole pattern.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let Some(tokens) = &self.tokens else {
            return false;
        };
        let name: Vec<char> = name.chars().collect();
        // Iterative wildcard matching: on a mismatch, let the most recent `*` swallow one
        // more character and retry from there. Linear in practice, never exponential.
        let (mut t, mut n) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while n < name.len() {
            match tokens.get(t) {
                Some(Token::AnySequence) => {
                    backtrack = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(token) if token.matches_one(name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((star, from)) => {
                    t = star + 1;
                    n = from + 1;
                    backtrack = Some((star, from + 1));
                }
                None => return false,
            }
        }
        tokens[t..].iter().all(|token| *token == Token::AnySequence)
    }
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
            assert!(Glob::new(bad).tokens.is_none(), "{bad}");
            assert!(!m(bad, "a"), "{bad}");
            assert!(!m(bad, ""), "{bad}");
        }
    }

    #[test]
    fn long_inputs_do_not_backtrack_exponentially() {
        let name = "a".repeat(10_000);
        assert!(!m("*a*a*a*a*a*a*a*b", &name));
    }
}
