//! Flux's `.sourceignore` matcher: no panic on any pattern or path, and algebraic
//! properties that hold for every pattern:
//!
//! - a negated pattern gives the opposite answer where the pattern applies, so
//!   `[p, !p]` re-includes everything `p` excludes, and `[!p, p]` is `p`;
//! - the last pattern that applies decides; repeating a pattern changes nothing;
//! - a pattern from a subdirectory's ignore file applies to paths below it exactly as
//!   it applies at the root to the path relative to it, and never outside it;
//! - what excludes a directory excludes everything below it;
//! - read from a file, a pattern line is the same pattern;
//! - for a simple name, the glob agrees with an independent matcher written from
//!   Go's `filepath.Match` syntax (`*`, `?`, `[...]` with `^`, ranges, `\` escapes;
//!   malformed patterns match nothing).
#![no_main]

use arbitrary::Arbitrary;
use flux_artifact_fuzz::go_match;
use flux_artifact_storage::sourceignore::{Match, Matcher, Pattern, read_patterns};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    pattern: String,
    other: String,
    domain: Vec<String>,
    path: Vec<String>,
    below: String,
    is_dir: bool,
}

fn flip(m: Match) -> Match {
    match m {
        Match::Exclude => Match::Include,
        Match::Include => Match::Exclude,
        Match::None => Match::None,
    }
}

fuzz_target!(|input: Input| {
    let domain: Vec<&str> = input.domain.iter().take(3).map(String::as_str).collect();
    let path: Vec<&str> = input.path.iter().take(6).map(String::as_str).collect();
    let is_dir = input.is_dir;
    let p = Pattern::new(&input.pattern, &[]);
    let q = Pattern::new(&input.other, &[]);
    let m = p.matches(&path, is_dir);
    let _ = Matcher::with_defaults(vec![p.clone()], &domain).is_excluded(&path, is_dir);

    // Negation.
    if !input.pattern.starts_with('!') {
        let negated = Pattern::new(&format!("!{}", input.pattern), &[]);
        assert_eq!(
            negated.matches(&path, is_dir),
            flip(m),
            "!{:?} on {path:?}",
            input.pattern
        );
        assert!(
            !Matcher::new(vec![p.clone(), negated.clone()]).is_excluded(&path, is_dir),
            "[{0:?}, !{0:?}] excludes {path:?}",
            input.pattern
        );
        assert_eq!(
            Matcher::new(vec![negated, p.clone()]).is_excluded(&path, is_dir),
            m == Match::Exclude
        );
    }

    // The last pattern that applies decides; repetition changes nothing.
    let single = Matcher::new(vec![p.clone()]).is_excluded(&path, is_dir);
    assert_eq!(single, m == Match::Exclude);
    assert_eq!(
        Matcher::new(vec![p.clone(), p.clone()]).is_excluded(&path, is_dir),
        single
    );
    let qm = q.matches(&path, is_dir);
    let both = Matcher::new(vec![p.clone(), q.clone()]).is_excluded(&path, is_dir);
    if qm == Match::None {
        assert_eq!(both, single);
    } else {
        assert_eq!(both, qm == Match::Exclude);
    }

    // Domains.
    if !domain.is_empty() {
        let scoped = Pattern::new(&input.pattern, &domain);
        let mut full: Vec<&str> = domain.clone();
        full.extend(&path);
        let expected = if path.is_empty() { Match::None } else { m };
        assert_eq!(
            scoped.matches(&full, is_dir),
            expected,
            "{:?} in {domain:?} on {full:?}",
            input.pattern
        );
        let below_domain = path.len() > domain.len() && path.iter().zip(&domain).all(|(a, b)| a == b);
        if !below_domain {
            assert_eq!(
                scoped.matches(&path, is_dir),
                Match::None,
                "{:?} in {domain:?} on {path:?}",
                input.pattern
            );
        }
    }

    // What excludes a directory excludes what is below it.
    if !path.is_empty() && m != Match::None && p.matches(&path, true) == m {
        let mut deeper = path.clone();
        deeper.push(&input.below);
        assert_eq!(
            p.matches(&deeper, false),
            m,
            "{:?}: {path:?} but not {deeper:?}",
            input.pattern
        );
        assert_eq!(
            p.matches(&deeper, true),
            m,
            "{:?}: {path:?} but not {deeper:?}/",
            input.pattern
        );
    }

    // A line read from an ignore file is the same pattern.
    let line = &input.pattern;
    if !line.contains(['\n', '\r']) {
        let read = read_patterns(line.as_bytes(), &[]).unwrap();
        if line.starts_with('#') || line.trim().is_empty() {
            assert!(read.is_empty());
        } else {
            assert_eq!(read, vec![p.clone()]);
        }
    }

    // Simple names against the independent glob matcher.
    let glob = &input.pattern;
    let simple = !glob.is_empty()
        && !glob.starts_with('!')
        && !glob.contains('/')
        && !glob.ends_with(' ')
        && !glob.contains('\0');
    if simple && let Some(name) = path.first() {
        let reference = go_match::parse(glob).is_some_and(|t| go_match::matches(&t, name));
        let ours = Pattern::new(glob, &[]).matches(&[name], false) == Match::Exclude;
        assert_eq!(ours, reference, "glob {glob:?} on {name:?}");
    }
});
