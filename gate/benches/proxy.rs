//! The gate's cost per request: the same requests (POST with a 1 KiB body, a 1 KiB answer,
//! keep-alive) sent straight to an upstream (the floor) and through hearth-gate with an
//! API key checked on each, in the same run.
//!
//! - latency: one client, one request at a time; criterion medians, and the difference;
//! - throughput: 16 concurrent clients for a fixed time, each way in alternation; the
//!   ratio of requests per second.
//!
//! Run: `cargo bench -p hearth-gate --bench proxy`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use hearth_gate::{Config, Gate};
use hearth_token_guard::apikey::{KeyRegistry, Role};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

const CLIENTS: usize = 16;

/// An upstream answering every request with 1 KiB, after reading the body.
async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(vec![b'a'; 1024]),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    port
}

type Http = Client<HttpConnector, Full<Bytes>>;

fn client() -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CLIENTS)
        .build(connector)
}

async fn post(client: &Http, port: u16, key: Option<&str>) {
    let mut request = http::Request::post(format!("http://127.0.0.1:{port}/api/generate"))
        .header("host", format!("127.0.0.1:{port}"));
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request
        .body(Full::new(Bytes::from(vec![b'p'; 1024])))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 1024);
}

/// Requests per second from CLIENTS concurrent clients during `time`.
async fn throughput(client: &Http, port: u16, key: Option<&str>, time: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, stop, done) = (client.clone(), Arc::clone(&stop), Arc::clone(&done));
        let key = key.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                post(&client, port, key.as_deref()).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(time).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("hearth-gate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registry = KeyRegistry::open(dir.join("keys"));
    let (key, _) = registry.create(Role::Consumer, "bench", None).unwrap();
    let key = key.expose_secret().to_owned();
    let (direct, gated) = runtime.block_on(async {
        let up = upstream().await;
        let config = Config::parse(
            "bench.toml",
            &format!(
                "[credentials]\napi_keys = \"{}\"\n[[limit]]\npath = \"/\"\nrequests = 1000000000\nper_seconds = 1\nburst = 1000000\n",
                dir.join("keys").display()
            ),
        )
        .unwrap()
        .with_listen("127.0.0.1:0")
        .unwrap()
        .with_upstream(&format!("http://127.0.0.1:{up}"))
        .unwrap();
        let gate = Gate::new(config, None).await.unwrap();
        let listener = gate.bind().await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(gate.run_until(listener, std::future::pending()));
        (up, port)
    });
    let http = client();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("gate_request_1k");
    g.bench_function("direct", |b| {
        b.to_async(&runtime).iter(|| post(&http, direct, None))
    });
    g.bench_function("gate", |b| {
        b.to_async(&runtime).iter(|| post(&http, gated, Some(&key)))
    });
    g.finish();
    c.final_summary();

    // Throughput, alternating to cancel the machine's drift.
    let (mut direct_rps, mut gate_rps) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..3 {
            direct_rps.push(throughput(&http, direct, None, Duration::from_secs(2)).await);
            gate_rps.push(throughput(&http, gated, Some(&key), Duration::from_secs(2)).await);
        }
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (d, g) = (median(&mut direct_rps), median(&mut gate_rps));

    if let (Some(direct_ns), Some(gate_ns)) = (
        median_ns("gate_request_1k/direct"),
        median_ns("gate_request_1k/gate"),
    ) {
        println!(
            "gate_request_1k: direct {:.1} µs, through the gate {:.1} µs: +{:.3} ms per request (target ≤ +0.3 ms)",
            direct_ns / 1e3,
            gate_ns / 1e3,
            (gate_ns - direct_ns) / 1e6
        );
    }
    println!(
        "gate_throughput_{CLIENTS}_clients: direct {d:.0} req/s, through the gate {g:.0} req/s, ratio {:.2}x (target ≥ 0.7x)",
        g / d
    );
    let _ = std::fs::remove_dir_all(&dir);
}
