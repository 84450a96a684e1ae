//! Response bodies: small in-memory ones, and files streamed in chunks from a blocking
//! thread, so memory per connection stays at one chunk whatever the file size.

use std::{
    fs::File,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::task::JoinHandle;

/// Bytes read per chunk of a streamed file.
const CHUNK: usize = 256 * 1024;

/// The body of every response this server sends.
#[derive(Debug)]
pub struct ResponseBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Empty,
    Bytes(Option<Bytes>),
    File(FileStream),
}

impl ResponseBody {
    pub(crate) fn empty() -> Self {
        ResponseBody { kind: Kind::Empty }
    }

    pub(crate) fn bytes(bytes: impl Into<Bytes>) -> Self {
        ResponseBody {
            kind: Kind::Bytes(Some(bytes.into())),
        }
    }

    /// `len` bytes of `file` from `offset`.
    pub(crate) fn file(file: File, offset: u64, len: u64) -> Self {
        ResponseBody {
            kind: Kind::File(FileStream {
                file: Arc::new(file),
                offset,
                remaining: len,
                pending: None,
            }),
        }
    }
}

#[derive(Debug)]
struct FileStream {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::File(stream) => stream.poll_chunk(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Bytes(bytes) => bytes.is_none(),
            Kind::File(stream) => stream.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Bytes(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::File(stream) => SizeHint::with_exact(stream.remaining),
        }
    }
}

impl FileStream {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let pending = self.pending.get_or_insert_with(|| {
            let (file, offset) = (self.file.clone(), self.offset);
            let len = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(CHUNK);
            tokio::task::spawn_blocking(move || read_chunk(&file, offset, len))
        });
        let result = ready!(Pin::new(pending).poll(cx));
        self.pending = None;
        let chunk = match result {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => return Poll::Ready(Some(Err(e))),
            Err(join) => return Poll::Ready(Some(Err(io::Error::other(join)))),
        };
        self.offset += chunk.len() as u64;
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

/// Reads exactly `len` bytes at `offset`; a file that shrank since it was opened is
/// an error rather than a short body.
fn read_chunk(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match read_at(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being served",
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Bytes::from(buf))
}

/// Reads a small range at once, for bodies not worth a blocking task.
pub(crate) fn read_now(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    read_chunk(file, offset, len)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
