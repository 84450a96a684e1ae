//! A small HTTP/1.1 load generator: keep-alive connections, each sending requests one
//! after the other, bodies read in full.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Keep-alive connections to one server.
#[derive(Debug)]
pub struct Connections {
    senders: Vec<SendRequest<Empty<Bytes>>>,
}

impl Connections {
    /// Opens `count` connections to `addr`.
    ///
    /// # Errors
    ///
    /// Connection or handshake failures.
    pub async fn open(
        addr: SocketAddr,
        count: usize,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mut senders = Vec::with_capacity(count);
        for _ in 0..count {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            senders.push(sender);
        }
        Ok(Connections { senders })
    }

    /// Sends `total` GETs of `path` spread over the connections, in parallel, and
    /// returns the wall time and the body bytes received.
    ///
    /// # Errors
    ///
    /// The first request that fails or answers other than 200.
    pub async fn run(
        &mut self,
        path: &str,
        total: u64,
    ) -> Result<(Duration, u64), Box<dyn std::error::Error + Send + Sync>> {
        let count = self.senders.len() as u64;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, mut sender) in std::mem::take(&mut self.senders).into_iter().enumerate() {
            let share = total / count + u64::from((i as u64) < total % count);
            let path = path.to_owned();
            tasks.spawn(async move {
                let mut bytes = 0u64;
                for _ in 0..share {
                    sender.ready().await?;
                    let request = Request::get(path.as_str())
                        .header("host", "bench")
                        .body(Empty::<Bytes>::new())?;
                    let response = sender.send_request(request).await?;
                    if response.status() != 200 {
                        return Err(format!("status {}", response.status()).into());
                    }
                    let mut body = response.into_body();
                    while let Some(frame) = body.frame().await {
                        if let Ok(data) = frame?.into_data() {
                            bytes += data.len() as u64;
                        }
                    }
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((sender, bytes))
            });
        }
        let mut received = 0;
        while let Some(done) = tasks.join_next().await {
            let (sender, bytes) = done??;
            self.senders.push(sender);
            received += bytes;
        }
        Ok((started.elapsed(), received))
    }
}
