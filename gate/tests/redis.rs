//! hearth-gate's Redis limits and revocations against a real `redis-server`: the scripts
//! decide exactly as hearth-guard's in-memory limiter on a recorded trace; two limiters
//! share one budget; revocations reach another limiter within a second; an outage is an
//! error within the timeout, and the limiter recovers when Redis returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_gate::RedisLimiter;
use hearth_guard::{Limit, LimitState};
use hearth_testkit::redis::RedisServer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// xorshift64*: a reproducible trace.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % below
    }
}

#[test]
fn redis_and_the_in_memory_limiter_agree_on_a_10000_decision_trace() {
    let redis = RedisServer::start();
    let rt = runtime();
    let limiter = rt
        .block_on(RedisLimiter::connect(
            &redis.url(),
            "trace:",
            Duration::from_secs(2),
        ))
        .unwrap();
    // Rates whose interval is a whole number of microseconds (the scripts round a finer
    // one up, refusing a little more than the in-memory limiter would).
    let limits = [
        Limit::token_bucket(5, Duration::from_secs(1), 3).unwrap(),
        Limit::sliding_window(4, Duration::from_secs(1)).unwrap(),
        Limit::token_bucket(60, Duration::from_secs(60), 1).unwrap(),
        Limit::sliding_window(10, Duration::from_millis(250)).unwrap(),
        Limit::token_bucket(8, Duration::from_secs(1), 2).unwrap(),
    ];
    const CLIENTS: u64 = 3;
    let mut states: Vec<LimitState> = (0..CLIENTS as usize * limits.len())
        .map(|_| LimitState::default())
        .collect();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // Whole milliseconds: the scripts count microseconds (bucket) and milliseconds
    // (window), the in-memory limiter nanoseconds.
    let mut now = Duration::from_secs(1_000_000);
    let mut trace = String::new();
    let (mut admitted, mut refused) = (0, 0);
    for step in 0..10_000 {
        now += Duration::from_micros(rng.next(30_000));
        let client = rng.next(CLIENTS) as usize;
        let which = rng.next(limits.len() as u64) as usize;
        let limit = &limits[which];
        // A bucket is decided to the microsecond, a window to the millisecond (the
        // scripts' units; the in-memory limiter counts nanoseconds).
        let at = match limit.shape() {
            hearth_guard::LimitShape::SlidingWindow { .. } => {
                Duration::from_millis(now.as_millis() as u64)
            }
            _ => now,
        };
        let memory = limit.admit_at(&mut states[which * CLIENTS as usize + client], at);
        let shared = rt
            .block_on(limiter.admit_at(&format!("{which}:{client}"), limit, at))
            .unwrap();
        let show = |d: &Result<(), hearth_guard::RetryAfter>| match d {
            Ok(()) => "admit".to_owned(),
            Err(w) => format!("wait {} us", w.duration().as_micros()),
        };
        trace.push_str(&format!(
            "{step} t={}ms limit={which} client={client} memory={} redis={}\n",
            now.as_millis(),
            show(&memory),
            show(&shared)
        ));
        match (&memory, &shared) {
            (Ok(()), Ok(())) => admitted += 1,
            (Err(a), Err(b)) if a.duration() == b.duration() => refused += 1,
            _ => {
                let path =
                    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("redis-trace.txt");
                std::fs::write(&path, &trace).unwrap();
                panic!("step {step} disagrees (trace in {})", path.display());
            }
        }
    }
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("redis-trace.txt"),
        &trace,
    )
    .unwrap();
    // A trace that exercises both answers.
    assert!(
        admitted > 2_000 && refused > 2_000,
        "{admitted} admitted, {refused} refused"
    );
}

#[test]
fn two_limiters_share_one_budget_and_revocations() {
    let redis = RedisServer::start();
    let rt = runtime();
    let (a, b) = rt.block_on(async {
        let a = RedisLimiter::connect(&redis.url(), "share:", Duration::from_secs(2))
            .await
            .unwrap();
        let b = RedisLimiter::connect(&redis.url(), "share:", Duration::from_secs(2))
            .await
            .unwrap();
        (a, b)
    });
    let limit = Limit::sliding_window(50, Duration::from_secs(3600)).unwrap();
    let admitted = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200 {
            let limiter = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tasks.push(tokio::spawn(async move {
                limiter.admit("k:one", &limit).await.unwrap().is_ok()
            }));
        }
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        admitted
    });
    assert_eq!(admitted, 50, "exactly the limit, across both");

    assert!(!b.is_revoked("k7f3a9c2"));
    rt.block_on(a.revoke("k7f3a9c2")).unwrap();
    let start = Instant::now();
    while !b.is_revoked("k7f3a9c2") {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "heard within a second"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_outage_is_an_error_within_the_timeout_and_the_limiter_recovers() {
    let mut redis = RedisServer::start();
    let rt = runtime();
    let limiter = rt
        .block_on(RedisLimiter::connect(
            &redis.url(),
            "outage:",
            Duration::from_millis(50),
        ))
        .unwrap();
    let limit = Limit::token_bucket(1000, Duration::from_secs(1), 1000).unwrap();
    assert!(rt.block_on(limiter.admit("c", &limit)).unwrap().is_ok());
    redis.kill();
    let start = Instant::now();
    let e = rt.block_on(limiter.admit("c", &limit)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(!e.to_string().contains("127.0.0.1"), "{e}");
    assert_eq!(e.kind(), hearth_token_guard::ErrorKind::Unavailable);
    redis.restart();
    let start = Instant::now();
    loop {
        if let Ok(Ok(())) = rt.block_on(limiter.admit("c", &limit)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "recovered when Redis came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn revocations_survive_a_redis_that_restarts_empty() {
    let mut redis = RedisServer::start();
    let rt = runtime();
    let a = rt
        .block_on(RedisLimiter::connect(
            &redis.url(),
            "keep:",
            Duration::from_secs(2),
        ))
        .unwrap();
    rt.block_on(a.revoke("k1234567")).unwrap();
    redis.kill();
    redis.restart();
    // The gate that knew gives it back; one that starts later learns it.
    let start = Instant::now();
    loop {
        let b = rt.block_on(RedisLimiter::connect(
            &redis.url(),
            "keep:",
            Duration::from_secs(2),
        ));
        if let Ok(b) = b
            && b.is_revoked("k1234567")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the revocation came back to Redis"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(a.is_revoked("k1234567"), "never forgotten here");
}

#[test]
fn an_audit_log_anchored_in_redis_finds_an_older_copy_put_back() {
    use hearth_audit::{AuditLog, AuditOptions, Entry, Event, Outcome};
    use hearth_gate::RedisAnchor;
    let mut redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("hearth-gate-anchor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn hearth_secure_storage::SecureStorage> =
        Arc::new(hearth_secure_storage::MemoryStore::new());
    let ns: hearth_secure_storage::Namespace = "gate::audit".parse().unwrap();
    let path = dir.join("audit.jsonl");
    let url = redis.url();
    let open = || {
        let anchor = RedisAnchor::new(&url, "hearth:gate:audit-head:gate::audit").unwrap();
        AuditLog::open_in_with_anchor(
            &path,
            Arc::clone(&store),
            &ns,
            Box::new(anchor),
            AuditOptions::default(),
        )
    };
    let entry = || {
        Entry::new(
            Event::FailedAuthAttempt,
            "-",
            "/api",
            "GET",
            Outcome::Denied,
        )
        .unwrap()
    };
    let log = open().unwrap();
    for _ in 0..3 {
        log.append(entry()).unwrap();
    }
    drop(log);
    let older = std::fs::read(&path).unwrap();
    let log = open().unwrap();
    log.append(entry()).unwrap();
    drop(log);
    // The head in Redis says 4; the file put back says 3.
    std::fs::write(&path, &older).unwrap();
    let e = open().unwrap_err();
    assert!(matches!(e, hearth_audit::Error::Tampered { .. }), "{e}");
    // Redis out of reach: the log is not opened (its head cannot be checked).
    std::fs::remove_file(&path).unwrap();
    redis.kill();
    let e = open().unwrap_err();
    assert!(matches!(e, hearth_audit::Error::Anchor { .. }), "{e}");
    assert_eq!(e.kind(), hearth_token_guard::ErrorKind::Unavailable);
    let _ = std::fs::remove_dir_all(&dir);
}
