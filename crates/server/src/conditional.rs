//! Validators and preconditions (RFC 9110 §8.8, §13) and byte ranges (§14).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, header};

/// What identifies one version of a file: its strong entity tag and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// A strong entity tag, quotes included.
    pub(crate) etag: String,
    /// Modification time, whole seconds (HTTP dates have no more).
    pub(crate) modified: SystemTime,
}

impl Validators {
    /// Validators from file metadata. The tag changes whenever the file is replaced
    /// (artifacts are written to a new inode and renamed), resized or touched.
    pub(crate) fn new(len: u64, modified: SystemTime, inode: u64) -> Self {
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        Validators {
            etag: format!("\"{len:x}-{:x}-{inode:x}\"", since_epoch.as_nanos()),
            modified: UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs()),
        }
    }

    /// Whether a GET/HEAD with these request headers can be answered 304 Not Modified:
    /// `If-None-Match` (weak comparison) if present, else `If-Modified-Since`.
    pub(crate) fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(value) = headers.get(header::IF_NONE_MATCH) {
            let Ok(value) = value.to_str() else { return false };
            return value.trim() == "*" || entity_tags(value).any(|tag| weak_eq(tag, &self.etag));
        }
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| self.modified <= since)
    }

    /// Whether an `If-Range` header (absent counts as yes) allows serving a range: the
    /// strong tag must match exactly, or the date must equal the modification time.
    pub(crate) fn range_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::IF_RANGE) else {
            return true;
        };
        let Ok(value) = value.to_str() else { return false };
        let value = value.trim();
        if value.starts_with('"') || value.starts_with("W/") {
            return value == self.etag;
        }
        httpdate::parse_http_date(value).is_ok_and(|date| date == self.modified)
    }
}

/// The entity tags of a comma-separated list.
fn entity_tags(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Weak comparison: the opaque tags match, `W/` prefixes ignored.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// The answer to a `Range` header for a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable range: serve everything (absent, malformed or multiple ranges, which a
    /// server may ignore).
    Full,
    /// One satisfiable range, inclusive bounds.
    Partial { start: u64, end: u64 },
    /// A well-formed range that covers no byte: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value.
pub(crate) fn parse_range(value: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        return match number(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(suffix) => RangeRequest::Partial {
                start: len.saturating_sub(suffix),
                end: len - 1,
            },
        };
    }
    // `bytes=A-` or `bytes=A-B`.
    let Some(start) = number(first) else {
        return RangeRequest::Full;
    };
    let end = match (last.is_empty(), number(last)) {
        (true, _) => None,
        (false, Some(end)) if end >= start => Some(end),
        _ => return RangeRequest::Full,
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial {
        start,
        end: end.map_or(len - 1, |end| end.min(len - 1)),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn validators() -> Validators {
        Validators::new(100, UNIX_EPOCH + Duration::new(1_700_000_000, 123), 42)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn etags_are_strong_and_change_with_size_time_and_inode() {
        let v = validators();
        assert!(v.etag.starts_with('"') && v.etag.ends_with('"'));
        assert_ne!(v.etag, Validators::new(101, v.modified, 42).etag);
        assert_ne!(
            v.etag,
            Validators::new(100, UNIX_EPOCH + Duration::new(1_700_000_000, 124), 42).etag
        );
        assert_ne!(
            v.etag,
            Validators::new(100, UNIX_EPOCH + Duration::new(1_700_000_000, 123), 43).etag
        );
    }

    #[test]
    fn if_none_match_compares_weakly_and_wins_over_if_modified_since() {
        let v = validators();
        assert!(v.not_modified(&headers(&[(header::IF_NONE_MATCH, &v.etag)])));
        assert!(v.not_modified(&headers(&[(
            header::IF_NONE_MATCH,
            &format!("\"x\", W/{}", v.etag)
        )])));
        assert!(v.not_modified(&headers(&[(header::IF_NONE_MATCH, "*")])));
        let future = httpdate::fmt_http_date(v.modified + Duration::from_secs(60));
        assert!(!v.not_modified(&headers(&[
            (header::IF_NONE_MATCH, "\"other\""),
            (header::IF_MODIFIED_SINCE, &future)
        ])));
    }

    #[test]
    fn if_modified_since_is_at_second_precision() {
        let v = validators();
        assert!(v.not_modified(&headers(&[(
            header::IF_MODIFIED_SINCE,
            &httpdate::fmt_http_date(v.modified)
        )])));
        let before = httpdate::fmt_http_date(v.modified - Duration::from_secs(1));
        assert!(!v.not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &before)])));
        assert!(!v.not_modified(&headers(&[(header::IF_MODIFIED_SINCE, "not a date")])));
    }

    #[test]
    fn if_range_needs_an_exact_validator() {
        let v = validators();
        assert!(v.range_allowed(&HeaderMap::new()));
        assert!(v.range_allowed(&headers(&[(header::IF_RANGE, &v.etag)])));
        assert!(!v.range_allowed(&headers(&[(header::IF_RANGE, &format!("W/{}", v.etag))])));
        assert!(v.range_allowed(&headers(&[(
            header::IF_RANGE,
            &httpdate::fmt_http_date(v.modified)
        )])));
        assert!(!v.range_allowed(&headers(&[(header::IF_RANGE, "\"stale\"")])));
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let r = |v: &str| parse_range(Some(v), 1000);
        assert_eq!(r("bytes=0-99"), Partial { start: 0, end: 99 });
        assert_eq!(r("bytes=900-"), Partial { start: 900, end: 999 });
        assert_eq!(r("bytes=-100"), Partial { start: 900, end: 999 });
        assert_eq!(r("bytes=-5000"), Partial { start: 0, end: 999 });
        assert_eq!(r("bytes=990-5000"), Partial { start: 990, end: 999 });
        assert_eq!(r("bytes=1000-"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6"), Full);
        assert_eq!(r("bytes=5-1"), Full);
        assert_eq!(r("bytes=a-b"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(r("bytes=-"), Full);
        assert_eq!(parse_range(None, 1000), Full);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
    }
}
