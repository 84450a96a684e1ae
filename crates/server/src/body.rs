//! Response bodies, and sending them: files go from the page cache to the socket with
//! `sendfile(2)` on Linux (no copy through user space, no buffer per connection), and
//! in 64 KiB chunks elsewhere.

use std::{fs::File, io, time::Duration};

use bytes::Bytes;
use tokio::{io::AsyncWriteExt, net::TcpStream, time::timeout};

/// The body of a response.
#[derive(Debug)]
pub(crate) enum Body {
    /// No body (HEAD, 304, errors without text).
    Empty,
    /// A small body in memory.
    Bytes(Bytes),
    /// `len` bytes of `file` from `offset`.
    File { file: File, offset: u64, len: u64 },
}

impl Body {
    pub(crate) fn text(text: &str) -> Body {
        Body::Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "client made no progress within the idle timeout",
    )
}

/// Writes `data`, failing if the client accepts nothing for `idle`.
pub(crate) async fn write_all(stream: &mut TcpStream, data: &[u8], idle: Duration) -> io::Result<()> {
    let mut rest = data;
    while !rest.is_empty() {
        let n = timeout(idle, stream.write(rest))
            .await
            .map_err(|_| timed_out())??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        rest = &rest[n..];
    }
    Ok(())
}

/// Sends `head`, then `len` bytes of `file` from `offset`, counting the file bytes sent
/// in `sent` as they go. A file that shrank since its size was announced is an error
/// (the connection is then closed, so the client sees a short body rather than a wrong
/// one).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) async fn send_file(
    stream: &mut TcpStream,
    head: &[u8],
    file: &File,
    offset: u64,
    len: u64,
    idle: Duration,
    sent: &mut u64,
) -> io::Result<()> {
    use tokio::io::Interest;
    // Small calls first (64 KiB, the size of the pipe sendfile splices through), each
    // followed by a yield to the scheduler, so that the sends of many connections
    // interleave instead of queueing behind whole bodies: with 64 connections on 1 MiB
    // files, 1.4× the requests per second of one call per body, and a lower p99. Calls
    // grow (doubling every 16, up to 1 MiB) on long bodies, where fewer syscalls and
    // yields keep one large download at full speed (docs/performance.md).
    const FIRST_CALL: u64 = 64 << 10;
    const LARGEST_CALL: u64 = 1 << 20;
    let mut call_size = FIRST_CALL;
    let mut calls = 0u32;
    let mut position = offset;
    let end = offset + len;
    // MSG_MORE holds the head back until the file data follows, so they leave in full
    // packets (Nagle is off on these sockets).
    let mut rest = head;
    while !rest.is_empty() {
        let n = timeout(
            idle,
            stream.async_io(Interest::WRITABLE, || {
                rustix::net::send(&*stream, rest, rustix::net::SendFlags::MORE).map_err(io::Error::from)
            }),
        )
        .await
        .map_err(|_| timed_out())??;
        rest = &rest[n..];
    }
    while position < end {
        let count = usize::try_from((end - position).min(call_size)).unwrap_or(1 << 20);
        let count_sent = timeout(
            idle,
            stream.async_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(&*stream, file, Some(&mut position), count).map_err(io::Error::from)
            }),
        )
        .await
        .map_err(|_| timed_out())??;
        if count_sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being served",
            ));
        }
        *sent = position - offset;
        calls += 1;
        if calls.is_multiple_of(16) {
            call_size = (call_size * 2).min(LARGEST_CALL);
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Sends `head`, then `len` bytes of `file` from `offset`, in chunks, counting the file
/// bytes sent in `sent`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) async fn send_file(
    stream: &mut TcpStream,
    head: &[u8],
    file: &File,
    offset: u64,
    len: u64,
    idle: Duration,
    sent: &mut u64,
) -> io::Result<()> {
    write_all(stream, head, idle).await?;
    const CHUNK: u64 = 64 * 1024;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut position = offset;
    let end = offset + len;
    while position < end {
        let want = usize::try_from((end - position).min(CHUNK)).unwrap_or(0);
        let n = read_at(file, &mut buf[..want], position)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being served",
            ));
        }
        write_all(stream, &buf[..n], idle).await?;
        position += n as u64;
        *sent = position - offset;
    }
    Ok(())
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
