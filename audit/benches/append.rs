//! Audit appends against their floor, in the same run: the floor is what any durable log
//! must pay, one `write` and one `fdatasync` per batch of lines of the same size, batched
//! the same way (the writer takes whatever is queued); Hearth adds the HMAC chain, the
//! canonical JSON and the anchored head (here in a `MemoryStore`: an OS keyring's write
//! per batch is the keyring's cost, not the log's).
//!
//! - one writer: criterion medians of a single durable append;
//! - 64 writer threads for a fixed time, each way in alternation: records per second.
//!
//! Run: `cargo bench -p hearth-audit --bench append`

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use criterion::Criterion;
use hearth_audit::{AuditLog, AuditOptions, Entry, Event, Outcome};
use hearth_secure_storage::MemoryStore;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

const WRITERS: usize = 64;

fn entry() -> Entry {
    Entry::new(
        Event::FailedAuthAttempt,
        "key:k7f3a9c2",
        "/api/keys",
        "POST invalid_credentials",
        Outcome::Denied,
    )
    .and_then(|e| e.peer("192.0.2.7"))
    .unwrap()
}

/// The floor: a writer thread that takes every line queued, writes them in one `write`
/// and `fdatasync`s once, then answers each.
struct Floor {
    jobs: mpsc::SyncSender<mpsc::SyncSender<()>>,
}

impl Floor {
    fn open(path: &Path, line_len: usize) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<mpsc::SyncSender<()>>(4096);
        let mut file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let line = vec![b'x'; line_len - 1];
        std::thread::spawn(move || {
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                while batch.len() < 4096 {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let mut text = Vec::with_capacity(batch.len() * line_len);
                for _ in &batch {
                    text.extend_from_slice(&line);
                    text.push(b'\n');
                }
                file.write_all(&text).unwrap();
                file.sync_data().unwrap();
                for done in batch {
                    let _ = done.send(());
                }
            }
        });
        Self { jobs }
    }

    fn append(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        self.jobs.send(done).unwrap();
        wait.recv().unwrap();
    }
}

/// Records per second from WRITERS threads calling `append` for `time`.
fn throughput(append: &(dyn Fn() + Sync), time: Duration) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    append();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("hearth-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ns = "bench::audit".parse().unwrap();
    let log = AuditLog::open_in(
        &dir.join("audit.jsonl"),
        Arc::new(MemoryStore::new()),
        &ns,
        AuditOptions::default().max_file_bytes(1 << 40),
    )
    .unwrap();
    log.append(entry()).unwrap();
    // The floor writes lines as long as Hearth's.
    let line_len = std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap()
        .len();
    let floor = Floor::open(&dir.join("floor.log"), line_len);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("audit_append_one_writer");
    // The entry is made (and redacted) once: what is timed is the append.
    let one = entry();
    g.bench_function("hearth", |b| b.iter(|| log.append(one.clone()).unwrap()));
    g.bench_function("floor", |b| b.iter(|| floor.append()));
    g.finish();
    c.final_summary();

    let (mut ours, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(throughput(
            &|| {
                log.append(one.clone()).unwrap();
            },
            Duration::from_secs(2),
        ));
        floors.push(throughput(&|| floor.append(), Duration::from_secs(2)));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, f) = (median(&mut ours), median(&mut floors));
    if let (Some(hn), Some(fl)) = (
        median_ns("audit_append_one_writer/hearth"),
        median_ns("audit_append_one_writer/floor"),
    ) {
        println!(
            "audit_append_one_writer: hearth {:.1} µs, floor {:.1} µs, ratio {:.2}x",
            hn / 1e3,
            fl / 1e3,
            hn / fl
        );
    }
    println!(
        "audit_append_{WRITERS}_writers: hearth {h:.0} records/s, floor {f:.0} records/s, ratio {:.2}x (time per record; target ≤ 1.2x, and ≥ 20,000 records/s)",
        f / h
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}
