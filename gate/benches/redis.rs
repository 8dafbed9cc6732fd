//! A shared (Redis) limit decision against its floor, in the same run: one `EVALSHA` of
//! the same script, by the same kind of client (a redis-rs `ConnectionManager`), to the
//! same `redis-server` (started here on a private port).
//!
//! Run: `cargo bench -p hearth-gate --features redis --bench redis`

use std::time::Duration;

use criterion::Criterion;
use hearth_gate::RedisLimiter;
use hearth_guard::Limit;
use hearth_testkit::redis::RedisServer;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

fn main() {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let limit = Limit::token_bucket(1_000_000_000, Duration::from_secs(1), 1_000_000).unwrap();
    let (limiter, mut floor, sha) = runtime.block_on(async {
        let limiter = RedisLimiter::connect(&redis.url(), "bench:", Duration::from_millis(50))
            .await
            .unwrap();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut floor = redis::aio::ConnectionManager::new(client).await.unwrap();
        let script = redis::Script::new(include_str!("../src/gcra.lua"));
        let sha: String = script
            .prepare_invoke()
            .load_async(&mut floor)
            .await
            .unwrap();
        // Both decide admitted, so both write.
        assert!(limiter.admit("k:1", &limit).await.unwrap().is_ok());
        (limiter, floor, sha)
    });

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("redis_decision");
    g.bench_function("hearth", |b| {
        b.to_async(&runtime)
            .iter(|| async { limiter.admit("k:1", &limit).await.unwrap().is_ok() })
    });
    g.bench_function("evalsha", |b| {
        b.to_async(&runtime).iter(|| {
            let mut conn = floor.clone();
            let sha = sha.clone();
            async move {
                let answer: i64 = redis::cmd("EVALSHA")
                    .arg(&sha)
                    .arg(1)
                    .arg("bench:k:2")
                    .arg(1)
                    .arg(1_000_000)
                    .arg("")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                answer == 0
            }
        })
    });
    g.finish();
    c.final_summary();
    let _ = &mut floor;
    if let (Some(h), Some(f)) = (
        median_ns("redis_decision/hearth"),
        median_ns("redis_decision/evalsha"),
    ) {
        println!(
            "redis_decision: hearth {:.1} µs, EVALSHA floor {:.1} µs, ratio {:.2}x (target ≤ 1.3x)",
            h / 1e3,
            f / 1e3,
            h / f
        );
    }
}
