//! Request heads: parsing the bytes of one (with `httparse`, the parser of hyper) and the
//! rules on how it frames the connection.
//!
//! The server reads no request bodies, so a head is the whole request, and anything that
//! could make this server and another parser (a proxy in front, a client library)
//! disagree on where the next request starts is refused and the connection closed:
//! bare LF line ends, obs-fold, a body in any form, a `Content-Length` that is not
//! one plain `0`, and a missing or repeated `Host`.

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

/// The largest request head accepted; larger ones get 431.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The most header fields accepted; more get 431.
pub(crate) const MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    /// The request target as sent (path and query, or an absolute URL).
    pub(crate) target: String,
    pub(crate) http10: bool,
    pub(crate) headers: HeaderMap,
    /// Bytes of the buffer the head took.
    pub(crate) len: usize,
}

/// Why a head was refused (or could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The connection closed, timed out or failed, or the server asked it to close
    /// between requests: nothing to answer.
    Gone,
    /// Malformed: answered 400, then closed.
    Malformed,
    /// Too long or too many fields: answered 431, then closed.
    TooLarge,
}

impl HeadError {
    /// The status a refused head is answered with, if any.
    pub(crate) fn status(self) -> Option<StatusCode> {
        match self {
            HeadError::Gone => None,
            HeadError::Malformed => Some(StatusCode::BAD_REQUEST),
            HeadError::TooLarge => Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        }
    }
}

/// Parses a complete head at the start of `buffer`; `Ok(None)` if it is incomplete.
///
/// Refused as [`HeadError::Malformed`]: whatever `httparse` refuses (invalid methods,
/// targets and versions other than HTTP/1.0 and 1.1, control characters, obs-fold, a
/// space before a field's colon), a line ended by a bare LF, more than one empty line
/// before the request line, and field names or values the `http` crate refuses. [`HeadError::TooLarge`]: more than [`MAX_HEADERS`] fields.
/// The caller caps the buffer at [`MAX_HEAD`].
pub(crate) fn parse_head(buffer: &[u8]) -> Result<Option<Head>, HeadError> {
    // One empty line before the request line is ignored (RFC 9112 §2.2 asks servers to
    // ignore at least one); more are refused, so that a run of empty lines sent a few
    // bytes at a time cannot make every read a parse of the whole buffer.
    let after_one = buffer.strip_prefix(b"\r\n").unwrap_or(buffer);
    if after_one.starts_with(b"\n") || (after_one.len() < buffer.len() && after_one.starts_with(b"\r")) {
        return Err(HeadError::Malformed);
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    // httparse accepts a bare LF as a line end (RFC 9112 §2.2 allows it); a proxy in
    // front that does not could see different requests in the same bytes.
    if has_bare_lf(&buffer[..len]) {
        return Err(HeadError::Malformed);
    }
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(HeadError::Malformed)?;
    let target = request.path.ok_or(HeadError::Malformed)?.to_owned();
    let http10 = request.version == Some(0);
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for field in request.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| HeadError::Malformed)?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| HeadError::Malformed)?;
        headers.append(name, value);
    }
    Ok(Some(Head {
        method,
        target,
        http10,
        headers,
        len,
    }))
}

/// Whether the bytes received since `from` may hold the end of a head (a line end
/// followed by an empty line), looking back far enough to catch one split across reads.
/// Parsing only then keeps a head trickled a byte at a time linear in its length.
pub(crate) fn may_end_head(buffer: &[u8], from: usize) -> bool {
    let start = from.saturating_sub(3);
    buffer.get(start..).is_some_and(|recent| {
        recent.windows(2).any(|w| w == b"\n\n") || recent.windows(3).any(|w| w == b"\n\r\n")
    })
}

fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

impl Head {
    /// Why this request cannot be answered on a connection that goes on, if it cannot:
    /// it has a body (this server reads none, so the body's bytes would be taken for the
    /// next request), its framing is ambiguous, or, for HTTP/1.1, it lacks exactly one
    /// `Host` (RFC 9112 §3.2 requires 400). Answered 400 and closed.
    pub(crate) fn framing_error(&self) -> Option<&'static str> {
        if self.headers.contains_key(header::TRANSFER_ENCODING) {
            return Some("GET and HEAD requests have no body");
        }
        let mut lengths = self.headers.get_all(header::CONTENT_LENGTH).iter();
        if let Some(length) = lengths.next() {
            if lengths.next().is_some() {
                return Some("repeated Content-Length");
            }
            let digits = length.as_bytes();
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Some("invalid Content-Length");
            }
            if digits.iter().any(|&d| d != b'0') {
                return Some("GET and HEAD requests have no body");
            }
        }
        if !self.http10 && self.headers.get_all(header::HOST).iter().count() != 1 {
            return Some("an HTTP/1.1 request needs exactly one Host header");
        }
        None
    }

    /// Whether the client wants the connection kept after the response: HTTP/1.1 unless
    /// it says `Connection: close`, HTTP/1.0 only if it says `Connection: keep-alive`.
    pub(crate) fn keep_alive(&self) -> bool {
        let mut tokens = self
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim);
        if self.http10 {
            tokens.any(|t| t.eq_ignore_ascii_case("keep-alive"))
        } else {
            !tokens.any(|t| t.eq_ignore_ascii_case("close"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()) {
            Ok(Some(head)) => head,
            other => panic!("{text:?} did not parse: {other:?}"),
        }
    }

    fn refused(text: &str) -> HeadError {
        match parse_head(text.as_bytes()) {
            Err(e) => e,
            Ok(other) => panic!("{text:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    }

    #[test]
    fn incomplete_heads_wait_for_more_and_garbage_is_malformed() {
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None)));
        assert_eq!(refused("\x00\x01garbage\r\n\r\n"), HeadError::Malformed);
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            refused(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            HeadError::TooLarge
        );
    }

    #[test]
    fn bare_lf_line_ends_are_malformed() {
        assert_eq!(refused("GET / HTTP/1.1\nHost: x\n\n"), HeadError::Malformed);
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\n\r\n"), HeadError::Malformed);
        assert_eq!(refused("GET / HTTP/1.1\r\nHost: x\r\n\n"), HeadError::Malformed);
    }

    #[test]
    fn one_empty_line_before_the_request_line_is_ignored_and_more_are_malformed() {
        assert!(
            head("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .framing_error()
                .is_none()
        );
        assert!(matches!(parse_head(b"\r"), Ok(None)));
        assert!(matches!(parse_head(b"\r\n"), Ok(None)));
        assert_eq!(refused("\r\n\r"), HeadError::Malformed);
        assert_eq!(
            refused("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            HeadError::Malformed
        );
        assert_eq!(
            refused("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            HeadError::Malformed
        );
    }

    #[test]
    fn obs_fold_and_bad_versions_are_malformed() {
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
            HeadError::Malformed
        );
        for version in ["HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1.1 "] {
            assert_eq!(
                refused(&format!("GET / {version}\r\nHost: x\r\n\r\n")),
                HeadError::Malformed,
                "{version}"
            );
        }
    }

    #[test]
    fn bodies_and_ambiguous_lengths_are_framing_errors() {
        let framing = |text: &str| head(text).framing_error();
        assert_eq!(framing("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(
            framing("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            None
        );
        assert_eq!(
            framing("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 000\r\n\r\n"),
            None
        );
        for fields in [
            "Content-Length: 5",
            "Content-Length: 0\r\nContent-Length: 0",
            "Content-Length: 0\r\nContent-Length: 5",
            "Content-Length: 0, 0",
            "Content-Length: +0",
            "Content-Length: -0",
            "Content-Length: 0x0",
            "Content-Length:",
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: identity",
            "Transfer-Encoding: chunked\r\nContent-Length: 0",
        ] {
            assert!(
                framing(&format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n\r\n")).is_some(),
                "{fields}"
            );
        }
    }

    #[test]
    fn http_1_1_needs_exactly_one_host() {
        assert!(head("GET / HTTP/1.1\r\n\r\n").framing_error().is_some());
        assert!(
            head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
                .framing_error()
                .is_some()
        );
        assert_eq!(head("GET / HTTP/1.0\r\n\r\n").framing_error(), None);
    }

    #[test]
    fn the_end_of_a_head_is_found_when_its_last_byte_arrives() {
        for text in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: x\n\n",
        ] {
            // One byte per read: only the last one may end the head.
            let ends: Vec<usize> = (0..text.len())
                .filter(|&i| may_end_head(&text[..=i], i))
                .collect();
            assert_eq!(ends, [text.len() - 1], "{text:?}");
            // Everything in one read.
            assert!(may_end_head(text, 0));
        }
        assert!(!may_end_head(b"GET / HTTP/1.1\r\nHost: x\r\n", 0));
    }
}
