//! The artifact server under load from 64 keep-alive connections, and one large download.
// Benchmarks are test code: setup failures abort the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{fs, io::Write, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flux_artifact_benches::{Rng, load::Connections, semi_compressible};
use flux_artifact_config::Options;
use flux_artifact_server::Server;

fn server(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
    let dir = root.path().join("bench/ns/n");
    fs::create_dir_all(&dir).expect("dir");
    let mut rng = Rng::new(3);
    fs::write(dir.join("10k.tar.gz"), semi_compressible(&mut rng, 10 * 1024)).expect("write");
    fs::write(dir.join("1m.tar.gz"), semi_compressible(&mut rng, 1 << 20)).expect("write");
    let mut big = fs::File::create(dir.join("1g.tar.gz")).expect("create");
    let block = semi_compressible(&mut rng, 1 << 20);
    for _ in 0..1024 {
        big.write_all(&block).expect("write");
    }
    drop(big);

    let options = Options {
        storage_path: root.path().to_path_buf(),
        storage_address: "127.0.0.1:0".into(),
        ..Options::default()
    };
    let (addr, stop) = runtime.block_on(async {
        let server = Server::bind(&options).await.expect("bind");
        #[cfg(feature = "server-metrics")]
        let server = server.with_metrics(flux_artifact_server::ServerMetrics::new());
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    });

    let mut group = c.benchmark_group("server");
    for (name, path, connections) in [
        ("10KiB-64-connections", "/bench/ns/n/10k.tar.gz", 64),
        ("1MiB-64-connections", "/bench/ns/n/1m.tar.gz", 64),
    ] {
        let mut conns = runtime
            .block_on(Connections::open(addr, connections))
            .expect("connect");
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter_custom(|requests| runtime.block_on(conns.run(path, requests)).expect("load").0);
        });
    }
    let mut one = runtime.block_on(Connections::open(addr, 1)).expect("connect");
    group.throughput(Throughput::Bytes(1 << 30));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("1GiB-download", |b| {
        b.iter_custom(|downloads| {
            runtime
                .block_on(one.run("/bench/ns/n/1g.tar.gz", downloads))
                .expect("load")
                .0
        });
    });
    group.finish();
    let _ = stop.send(());
}

criterion_group!(benches, server);
criterion_main!(benches);
