//! One long-lived thread per keyring backend, holding its connection, with a bound on every
//! call: a locked collection waiting on a prompt, or a D-Bus peer that never answers, must
//! not hang the caller, and must not cost a thread per call.
//!
//! Calls run one at a time, in the order they were made. A caller that runs out of time
//! gets [`Error::Timeout`]; its call may still finish later (for a write: the outcome is
//! unknown). Until every such abandoned call has finished, new calls fail at once with
//! [`Error::Timeout`] instead of queueing behind it, so a late write can never land after a
//! newer one and a dead peer costs one thread, not one per call.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::Error;

type Job<C> = Box<dyn FnOnce(&mut C) + Send>;

/// What the callers share with the worker thread.
#[derive(Default)]
struct Stall {
    /// Calls whose callers gave up and that have not finished yet.
    abandoned: usize,
    /// When the oldest of them was started by its caller.
    since: Option<Instant>,
}

/// A worker thread owning a connection state `C`, started on first use; kept in a
/// `static` (one per backend and process).
pub(super) struct Worker<C> {
    backend: &'static str,
    jobs: Mutex<Option<mpsc::Sender<Job<C>>>>,
    stall: Mutex<Stall>,
    connect: fn() -> C,
}

/// One call's result slot, filled by the worker or abandoned by the caller.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    done: Condvar,
}

struct SlotState<T> {
    result: Option<Result<T, Error>>,
    abandoned: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: 'static> Worker<C> {
    /// A worker for `backend` (its name, for errors) whose thread starts with `connect()`
    /// (which should not block: connect lazily inside the calls).
    pub(super) const fn new(backend: &'static str, connect: fn() -> C) -> Self {
        Self {
            backend,
            jobs: Mutex::new(None),
            stall: Mutex::new(Stall {
                abandoned: 0,
                since: None,
            }),
            connect,
        }
    }

    /// Runs `f` on the worker thread with the connection, waiting at most `timeout`.
    pub(super) fn call<T, F>(&'static self, timeout: Duration, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut C) -> Result<T, Error> + Send + 'static,
    {
        let start = Instant::now();
        if let Some(since) = lock(&self.stall).since {
            // An earlier call has not come back: do not queue behind it.
            return Err(Error::Timeout {
                backend: self.backend,
                waited: since.elapsed(),
            });
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                result: None,
                abandoned: false,
            }),
            done: Condvar::new(),
        });
        let job_slot = Arc::clone(&slot);
        let stall = &self.stall;
        let job_backend = self.backend;
        let job: Job<C> = Box::new(move |conn: &mut C| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| {
                    Err(Error::BackendFailed {
                        backend: job_backend,
                        reason: "the keyring client panicked".into(),
                    })
                });
            let mut state = lock(&job_slot.state);
            if state.abandoned {
                let mut stall = lock(stall);
                stall.abandoned -= 1;
                if stall.abandoned == 0 {
                    stall.since = None;
                }
            } else {
                state.result = Some(result);
                job_slot.done.notify_all();
            }
        });
        self.submit(job)?;

        let mut state = lock(&slot.state);
        loop {
            if let Some(result) = state.result.take() {
                return result;
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                state.abandoned = true;
                let mut stall = lock(&self.stall);
                stall.abandoned += 1;
                stall.since.get_or_insert(start);
                return Err(Error::Timeout {
                    backend: self.backend,
                    waited: start.elapsed(),
                });
            }
            state = slot
                .done
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Hands `job` to the thread, starting it (again) if needed.
    fn submit(&self, job: Job<C>) -> Result<(), Error> {
        let mut jobs = lock(&self.jobs);
        let job = match jobs.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                // The thread is gone: start a new one with this job.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel::<Job<C>>();
        let connect = self.connect;
        std::thread::Builder::new()
            .name(format!("hearth-{}", self.backend))
            .spawn(move || {
                let mut conn = connect();
                for job in rx {
                    job(&mut conn);
                }
            })
            .map_err(|e| Error::BackendFailed {
                backend: self.backend,
                reason: format!("cannot start its worker thread: {e}"),
            })?;
        // The receiver is alive: the thread owns it until the sender is dropped.
        let _ = tx.send(job);
        *jobs = Some(tx);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counter() -> usize {
        0
    }

    #[test]
    fn calls_run_in_order_on_one_thread() {
        let worker: &'static Worker<usize> = Box::leak(Box::new(Worker::new("test", counter)));
        let first = worker
            .call(Duration::from_secs(5), |n| {
                *n += 1;
                Ok((*n, std::thread::current().id()))
            })
            .unwrap();
        let second = worker
            .call(Duration::from_secs(5), |n| {
                *n += 1;
                Ok((*n, std::thread::current().id()))
            })
            .unwrap();
        assert_eq!(
            (first.0, second.0),
            (1, 2),
            "the state is kept between calls"
        );
        assert_eq!(first.1, second.1, "one thread");
        assert_ne!(first.1, std::thread::current().id());
    }

    #[test]
    fn a_stuck_call_times_out_and_later_calls_fail_fast_until_it_returns() {
        let worker: &'static Worker<usize> = Box::leak(Box::new(Worker::new("test", counter)));
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let err = worker
            .call(Duration::from_millis(50), move |n| {
                let _ = lock(&gate).recv();
                *n += 100; // the late write
                CALLS.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        // While it is stuck, a new call is refused at once and never runs.
        let start = Instant::now();
        let err = worker
            .call(Duration::from_secs(30), |n| {
                *n += 1;
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "it did not fail fast"
        );
        // Once the stuck call returns, the worker serves again, after the late write.
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let value = loop {
            match worker.call(Duration::from_secs(5), |n| Ok(*n)) {
                Ok(v) => break v,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("the worker did not recover: {e}"),
            }
        };
        assert_eq!(value, 100, "only the late write ran, and before this call");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_call_is_an_error_and_the_worker_goes_on() {
        let worker: &'static Worker<usize> = Box::leak(Box::new(Worker::new("test", counter)));
        let err = worker
            .call(Duration::from_secs(30), |_| -> Result<(), Error> {
                panic!("boom")
            })
            .unwrap_err();
        assert!(matches!(err, Error::BackendFailed { .. }), "{err}");
        assert_eq!(worker.call(Duration::from_secs(5), |n| Ok(*n)).unwrap(), 0);
    }
}
