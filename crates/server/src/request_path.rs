//! Turning the target of a request into a relative file path, refusing every form of
//! traversal before the filesystem is touched.
//!
//! Two steps: [`resolve_target`] reads the request target as a URI (RFC 9112 §3.2) and
//! keeps its path, dropping the query as Go's file server does; [`parse`] checks and
//! decodes that path.

use std::path::PathBuf;

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathRejection {
    /// Malformed or hostile: answered 400.
    BadRequest(&'static str),
    /// Well formed, but names something never served (lock files, temporary files):
    /// answered 404, as if it did not exist.
    Hidden,
}

/// What a request path asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/`: the readiness probe.
    Root,
    /// A file, relative to the storage root.
    File(PathBuf),
}

/// Resolves a request target to what it asks for.
///
/// - origin-form (`/path?query`): the path, up to the first `?`;
/// - absolute-form (`http://host/path?query`, scheme `http` or `https` in any case):
///   the path after the authority (`/` when there is none), which must be a non-empty
///   host without user information;
/// - the query is ignored whatever it contains, as Go's `http.FileServer` ignores it: it
///   never reaches the file system. A percent-encoded `?` (`%3F`) is part of the path.
///
/// Refused with 400: a `#` anywhere (a fragment is never sent in a request, RFC 9112
/// §3.2), asterisk-form (`*`, meaningful only for `OPTIONS`, which is answered 405
/// before the target is read), authority-form and every other shape; then whatever
/// [`parse`] refuses in the path.
pub(crate) fn resolve_target(target: &str) -> Result<Target, PathRejection> {
    if target.contains('#') {
        return Err(PathRejection::BadRequest("request target contains a fragment"));
    }
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_http_scheme(target) {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.is_empty() || authority.contains('@') {
            return Err(PathRejection::BadRequest(
                "absolute-form target has an invalid authority",
            ));
        }
        match &rest[authority_end..] {
            "" => "/",
            rest if rest.starts_with('?') => "/",
            rest => rest,
        }
    } else if target == "*" {
        return Err(PathRejection::BadRequest("asterisk-form is only for OPTIONS"));
    } else {
        return Err(PathRejection::BadRequest(
            "request target must be a path or an absolute http URL",
        ));
    };
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _query)| path);
    parse(path)
}

/// The rest of an absolute `http://` or `https://` URL (scheme case-insensitive).
fn strip_http_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].into_iter().find_map(|scheme| {
        let prefix = target.get(..scheme.len())?;
        prefix
            .eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    })
}

/// Parses the percent-encoded path of a request (without its query).
///
/// Refused with 400: anything not starting with `/`, empty segments (`//`, a trailing
/// `/`), `.` and `..` segments (also percent-encoded), encoded `/` or `\`, backslashes,
/// NUL and other control characters, malformed percent escapes, and segments that do
/// not decode to UTF-8 (overlong encodings such as `%c0%ae` among them). Decoding
/// happens once: `%252e` is the three characters `%2e`. Refused with 404:
/// names of lock files and of temporary files of in-progress writes.
pub(crate) fn parse(raw: &str) -> Result<Target, PathRejection> {
    let rest = raw
        .strip_prefix('/')
        .ok_or(PathRejection::BadRequest("path must start with '/'"))?;
    if rest.is_empty() {
        return Ok(Target::Root);
    }
    let mut path = PathBuf::new();
    let mut last = String::new();
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(PathRejection::BadRequest("empty path segment"));
        }
        let decoded = percent_decode(segment)?;
        if decoded.iter().any(|&b| b == b'/' || b == b'\\') {
            return Err(PathRejection::BadRequest("path segment contains a separator"));
        }
        if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(PathRejection::BadRequest("path contains a control character"));
        }
        if decoded == b"." || decoded == b".." {
            return Err(PathRejection::BadRequest("path contains a '.' or '..' segment"));
        }
        // Storage names are UTF-8; anything else, overlong encodings of `.` and `/`
        // (`%c0%ae`, `%c0%af`) included, names nothing the storage wrote.
        let segment =
            String::from_utf8(decoded).map_err(|_| PathRejection::BadRequest("path is not valid UTF-8"))?;
        path.push(&segment);
        last = segment;
    }
    if last.ends_with(".lock") || flux_artifact_storage::is_temp_file_name(&last) {
        return Err(PathRejection::Hidden);
    }
    Ok(Target::File(path))
}

fn percent_decode(segment: &str) -> Result<Vec<u8>, PathRejection> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or(PathRejection::BadRequest("truncated percent escape"))?;
                let value = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(PathRejection::BadRequest("invalid percent escape"))?;
                out.push(value);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(raw: &str) -> PathBuf {
        match parse(raw) {
            Ok(Target::File(path)) => path,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn plain_paths_become_relative_file_paths() {
        assert_eq!(parse("/"), Ok(Target::Root));
        assert_eq!(
            file("/gitrepository/ns/name/a.tar.gz"),
            PathBuf::from("gitrepository/ns/name/a.tar.gz")
        );
        assert_eq!(file("/a%20b/%C3%BC.tar.gz"), PathBuf::from("a b/ü.tar.gz"));
    }

    #[test]
    fn traversal_in_any_spelling_is_a_bad_request() {
        for raw in [
            "/..",
            "/../etc/passwd",
            "/a/../b",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/a/./b",
            "/%2e/x",
            "/a%2fb",
            "/a%2F..%2Fb",
            "/a%5cb",
            "/a\\b",
            "//etc/passwd",
            "/a//b",
            "/a/",
            "/a%00b",
            "/a%0ab",
            "relative",
            "*",
            "/%",
            "/%zz",
            "/%4",
            "/%c0%ae%c0%ae/x",
            "/%c0%af",
            "/%e0%80%ae%e0%80%ae/x",
            "/a%ff",
        ] {
            assert!(matches!(parse(raw), Err(PathRejection::BadRequest(_))), "{raw}");
        }
    }

    fn resolved(target: &str) -> PathBuf {
        match resolve_target(target) {
            Ok(Target::File(path)) => path,
            other => panic!("{target}: {other:?}"),
        }
    }

    #[test]
    fn the_query_is_dropped_before_the_path_is_checked() {
        assert_eq!(resolved("/k/a.tar.gz?x=1"), PathBuf::from("k/a.tar.gz"));
        assert_eq!(resolved("/k/a.tar.gz?"), PathBuf::from("k/a.tar.gz"));
        assert_eq!(resolved("/k/a.tar.gz?../../x"), PathBuf::from("k/a.tar.gz"));
        assert_eq!(resolved("/k/a.tar.gz?x?y/../z"), PathBuf::from("k/a.tar.gz"));
        assert_eq!(resolve_target("/?x"), Ok(Target::Root));
        assert!(matches!(
            resolve_target("/../x?y"),
            Err(PathRejection::BadRequest(_))
        ));
    }

    #[test]
    fn an_encoded_question_mark_stays_in_the_path() {
        assert_eq!(resolved("/k/a%3Fb"), PathBuf::from("k/a?b"));
        assert_eq!(resolved("/k/a%3fb?c"), PathBuf::from("k/a?b"));
    }

    #[test]
    fn absolute_form_targets_resolve_to_their_path() {
        assert_eq!(resolved("http://host:9090/k/a?x"), PathBuf::from("k/a"));
        assert_eq!(resolved("HTTPS://host/k/a"), PathBuf::from("k/a"));
        assert_eq!(resolve_target("http://host"), Ok(Target::Root));
        assert_eq!(resolve_target("http://host?x=/etc/passwd"), Ok(Target::Root));
        for target in [
            "http:///k/a",
            "http://user@host/k/a",
            "http://host/../k",
            "ftp://host/k/a",
        ] {
            assert!(
                matches!(resolve_target(target), Err(PathRejection::BadRequest(_))),
                "{target}"
            );
        }
    }

    #[test]
    fn fragments_asterisks_and_other_forms_are_bad_requests() {
        for target in ["/k/a#x", "/k/a?q#x", "#", "*", "host:443", "k/a", ""] {
            assert!(
                matches!(resolve_target(target), Err(PathRejection::BadRequest(_))),
                "{target}"
            );
        }
    }

    #[test]
    fn lock_and_temporary_files_are_hidden() {
        assert_eq!(parse("/k/ns/n/a.tar.gz.lock"), Err(PathRejection::Hidden));
        assert_eq!(parse("/k/ns/n/.a.tar.gz.Xq3b9z.tmp"), Err(PathRejection::Hidden));
        assert!(matches!(parse("/k/ns/n/a.tar.gz"), Ok(Target::File(_))));
    }
}
