//! [`RequestBody`]: the body of a request [`serve`](crate::serve) hands a handler, which
//! tells the connection when it has been read, so that the idle timeout spares a handler
//! that is working on a request it has whole.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// What a connection's request is doing, for its idle timeout.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// A request is being handled (the guard and the handler have not answered yet).
    handling: AtomicBool,
    /// The number of the connection's current request.
    request: AtomicU64,
    /// The highest request number whose body has been read to the end, or dropped (a
    /// body an earlier request's handler drops late cannot speak for the current one).
    body_done: AtomicU64,
}

impl Activity {
    /// Whether the idle timeout waits: a handler works with nothing more to read.
    pub(crate) fn suspended(&self) -> bool {
        self.handling.load(Ordering::Acquire)
            && self.body_done.load(Ordering::Acquire) == self.request.load(Ordering::Acquire)
    }

    /// A request begins; its handling ends when the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>, body: Incoming) -> (RequestBody, Handling) {
        let number = self.request.fetch_add(1, Ordering::AcqRel) + 1;
        if body.is_end_stream() {
            self.body_done.fetch_max(number, Ordering::AcqRel);
        }
        self.handling.store(true, Ordering::Release);
        let body = RequestBody {
            inner: body,
            activity: Arc::clone(self),
            number,
        };
        (body, Handling(Arc::clone(self)))
    }
}

/// Ends a request's handling when dropped (its answer is ready, or the connection went).
pub(crate) struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.store(false, Ordering::Release);
    }
}

/// A request body as [`serve`](crate::serve) gives it (inside
/// [`GuardedRequest`](crate::GuardedRequest)'s cap): hyper's body, streamed as the client
/// sends it. While the client still owes part of it the connection's idle timeout runs (a
/// client that stops sending is cut off); once it has been read to the end, or dropped,
/// the handler may take as long as it needs to answer.
///
/// ```no_run
/// use http_body_util::BodyExt as _;
///
/// async fn handle(request: hearth_guard::GuardedRequest) -> Result<usize, hearth_guard::BoxError> {
///     let body = request.into_body().collect().await?.to_bytes(); // within the cap
///     Ok(body.len())
/// }
/// ```
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    activity: Arc<Activity>,
    /// Which of the connection's requests it belongs to.
    number: u64,
}

impl RequestBody {
    fn done(&self) {
        self.activity
            .body_done
            .fetch_max(self.number, Ordering::AcqRel);
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => this.done(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.done(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.done();
    }
}
