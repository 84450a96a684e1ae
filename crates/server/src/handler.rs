//! Answering one request: which file, which status, which headers.

use std::{
    path::Path,
    time::{Instant, SystemTime},
};

use cap_std::fs::Dir;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

use crate::{
    body::{ResponseBody, read_now},
    conditional::{RangeRequest, Validators, parse_range},
    request_path::{PathRejection, Target, parse},
};

/// Files up to this size are read on the request's own task instead of being streamed
/// from a blocking thread: a page-cache read of this size costs less than the hand-off.
const INLINE_MAX: u64 = 64 * 1024;

/// The storage root, opened once; every file is opened through it, so a path cannot
/// resolve outside it, symlinks included.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) root: Dir,
}

/// Answers a request; never fails (errors become status codes).
pub(crate) fn handle<B>(request: &Request<B>, files: &Files) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = request.method();
    let response = match *method {
        Method::GET | Method::HEAD => serve(
            request.uri().path(),
            request.headers(),
            files,
            method == Method::HEAD,
        ),
        _ => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n", false);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        }
    };
    tracing::debug!(
        method = %method,
        path = request.uri().path(),
        status = response.status().as_u16(),
        bytes = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("0"),
        elapsed_us = started.elapsed().as_micros() as u64,
        "artifact request"
    );
    response
}

fn serve(path: &str, headers: &HeaderMap, files: &Files, head: bool) -> Response<ResponseBody> {
    match parse(path) {
        Ok(Target::Root) => text(StatusCode::OK, "ok\n", head),
        Ok(Target::File(relative)) => serve_file(&relative, headers, files, head),
        Err(PathRejection::BadRequest(reason)) => {
            text(StatusCode::BAD_REQUEST, &format!("bad request: {reason}\n"), head)
        }
        Err(PathRejection::Hidden) => not_found(head),
    }
}

fn serve_file(relative: &Path, headers: &HeaderMap, files: &Files, head: bool) -> Response<ResponseBody> {
    // A stat first, so that special files (a FIFO would block `open`) are never opened;
    // then the metadata of the opened file, which is what is actually sent.
    if !files.root.metadata(relative).is_ok_and(|m| m.is_file()) {
        return not_found(head);
    }
    let Ok(file) = files.root.open(relative) else {
        return not_found(head);
    };
    let file = file.into_std();
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

    let mut response = Response::new(ResponseBody::empty());
    set_validators(response.headers_mut(), &validators);
    if validators.not_modified(headers) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(relative)),
    );
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let range = if validators.range_allowed(headers) {
        parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len)
    } else {
        RangeRequest::Full
    };
    let (start, count) = match range {
        RangeRequest::Full => (0, len),
        RangeRequest::Partial { start, end } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            insert_text(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{len}"),
            );
            (start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            insert_text(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{len}"),
            );
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            return response;
        }
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if head {
        return response;
    }
    *response.body_mut() = if count <= INLINE_MAX {
        match read_now(&file, start, usize::try_from(count).unwrap_or(0)) {
            Ok(bytes) => ResponseBody::bytes(bytes),
            Err(e) => {
                tracing::warn!(path = %relative.display(), error = %e, "reading artifact failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n", head);
            }
        }
    } else {
        ResponseBody::file(file, start, count)
    };
    response
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

fn set_validators(headers: &mut HeaderMap, validators: &Validators) {
    insert_text(headers, header::ETAG, &validators.etag);
    insert_text(
        headers,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(validators.modified),
    );
}

fn insert_text(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn text(status: StatusCode, body: &str, head: bool) -> Response<ResponseBody> {
    let mut response = Response::new(if head {
        ResponseBody::empty()
    } else {
        ResponseBody::bytes(body.to_owned())
    });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    response
}

fn not_found(head: bool) -> Response<ResponseBody> {
    text(StatusCode::NOT_FOUND, "not found\n", head)
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}
