//! Answering one request: which file, which status, which headers.

use std::{path::Path, time::SystemTime};

use cap_std::fs::Dir;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::{
    body::Body,
    conditional::{RangeRequest, Validators, parse_range},
    request_path::{PathRejection, Target, resolve_target},
};

/// The storage root, opened once; every file is opened through it, so a path cannot
/// resolve outside it, symlinks included.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) root: Dir,
}

/// A response before it is written.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

impl Reply {
    fn new(status: StatusCode) -> Self {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// A short plain-text answer (errors, the readiness probe).
    pub(crate) fn text(status: StatusCode, text: &str, head: bool) -> Self {
        let mut reply = Reply::new(status);
        reply.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        reply
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
        if !head {
            reply.body = Body::text(text);
        }
        reply
    }
}

/// Answers a request for a request target (path and query, or an absolute URL); never
/// fails (errors become status codes).
pub(crate) fn handle(method: &Method, target: &str, headers: &HeaderMap, files: &Files) -> Reply {
    match *method {
        Method::GET | Method::HEAD => serve(target, headers, files, method == Method::HEAD),
        _ => method_not_allowed(),
    }
}

pub(crate) fn method_not_allowed() -> Reply {
    let mut reply = Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n", false);
    reply
        .headers
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    reply
}

fn serve(target: &str, headers: &HeaderMap, files: &Files, head: bool) -> Reply {
    match resolve_target(target) {
        Ok(Target::Root) => Reply::text(StatusCode::OK, "ok\n", head),
        Ok(Target::File(relative)) => serve_file(&relative, headers, files, head),
        Err(PathRejection::BadRequest(reason)) => {
            Reply::text(StatusCode::BAD_REQUEST, &format!("bad request: {reason}\n"), head)
        }
        Err(PathRejection::Hidden) => not_found(head),
    }
}

fn serve_file(relative: &Path, headers: &HeaderMap, files: &Files, head: bool) -> Reply {
    let Ok(file) = open_regular(&files.root, relative) else {
        return not_found(head);
    };
    let Ok(meta) = file.metadata() else {
        return not_found(head);
    };
    if !meta.is_file() {
        return not_found(head);
    }
    let len = meta.len();
    let validators = Validators::new(
        len,
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        inode(&meta),
    );

    let mut reply = Reply::new(StatusCode::OK);
    insert_text(&mut reply.headers, header::ETAG, &validators.etag);
    insert_text(
        &mut reply.headers,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(validators.modified),
    );
    if validators.not_modified(headers) {
        reply.status = StatusCode::NOT_MODIFIED;
        return reply;
    }
    reply.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(relative)),
    );
    reply
        .headers
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let range = if validators.range_allowed(headers) {
        parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len)
    } else {
        RangeRequest::Full
    };
    let (start, count) = match range {
        RangeRequest::Full => (0, len),
        RangeRequest::Partial { start, end } => {
            reply.status = StatusCode::PARTIAL_CONTENT;
            insert_text(
                &mut reply.headers,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{len}"),
            );
            (start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            reply.status = StatusCode::RANGE_NOT_SATISFIABLE;
            insert_text(
                &mut reply.headers,
                header::CONTENT_RANGE,
                &format!("bytes */{len}"),
            );
            reply
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            return reply;
        }
    };
    reply
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if !head && count > 0 {
        reply.body = Body::File {
            file,
            offset: start,
            len: count,
        };
    }
    reply
}

/// Opens a path beneath the root for reading without blocking on special files: a
/// FIFO opened for reading would wait for a writer, so on Unix the open is
/// non-blocking and the caller checks the type of what it got.
fn open_regular(root: &Dir, relative: &Path) -> std::io::Result<std::fs::File> {
    let mut options = cap_std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    cap_std::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NONBLOCK.bits() as i32);
    #[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
    if !root.metadata(relative)?.is_file() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    Ok(root.open_with(relative, &options)?.into_std())
}

/// `.tar.gz`/`.tgz` are gzip files; everything else is opaque bytes. Never a
/// `Content-Encoding`: Flux's client would decompress and the digest would not match.
fn content_type(path: &Path) -> &'static str {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    }
}

fn insert_text(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn not_found(head: bool) -> Reply {
    Reply::text(StatusCode::NOT_FOUND, "not found\n", head)
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}
