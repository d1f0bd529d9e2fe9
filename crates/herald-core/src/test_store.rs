//! A small in-memory [`Store`] for the unit tests: a `Vec` of events that reports every call it
//! receives (the thread of each read, the size of each appended batch) and can be made to block
//! or fail on demand. It keeps every event: retention is not applied.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::event::{Event, Update};
use crate::retention::{now_ms, Retention};
use crate::store::{Store, StoreError};

/// How long a test waits for something that should happen before it fails. A safety net so that
/// a broken test ends instead of hanging, never a pause.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A call the store received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// `read_after(after, _)`, made on `thread`.
    Read { after: u64, thread: ThreadId },
    /// `append` of a batch of `len` events.
    Append { len: usize },
}

/// Where calls wait while it is closed.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    closed: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    pub(crate) fn close(&self) {
        *self.closed.lock().unwrap() = true;
    }

    pub(crate) fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.changed.notify_all();
    }

    /// Waits while the gate is closed; panics if it stays closed much longer than a test
    /// waits for anything ([`PATIENCE`]), so the test's own check fails first.
    fn pass(&self) {
        let closed = self.closed.lock().unwrap();
        let (_closed, waited) = self.changed.wait_timeout_while(closed, 2 * PATIENCE, |closed| *closed).unwrap();
        assert!(!waited.timed_out(), "the gate was never opened");
    }
}

/// The calls a [`TestStore`] received, in order.
pub(crate) struct Calls(mpsc::UnboundedReceiver<Call>);

impl Calls {
    /// The next call, waiting for it (at most [`PATIENCE`]).
    pub(crate) async fn next(&mut self) -> Call {
        let call = tokio::time::timeout(PATIENCE, self.0.recv()).await.expect("the store received no call");
        call.expect("the store is gone")
    }

    /// The calls received so far, without waiting.
    pub(crate) fn so_far(&mut self) -> Vec<Call> {
        std::iter::from_fn(|| self.0.try_recv().ok()).collect()
    }

    /// Forgets the calls received so far.
    pub(crate) fn clear(&mut self) {
        self.so_far();
    }
}

#[derive(Debug)]
pub(crate) struct TestStore {
    log: Mutex<Vec<Arc<Event>>>,
    /// The size of every batch `append` received, failed ones included.
    batches: Mutex<Vec<usize>>,
    calls: mpsc::UnboundedSender<Call>,
    /// Reads wait here, once reported, while it is closed.
    pub(crate) reads: Gate,
    /// Appends wait here, once their batch is stored (or refused) and reported, while it is
    /// closed: the batch is on "disk" but the writer has not delivered it yet.
    pub(crate) appends: Gate,
    /// While set, reads fail.
    pub(crate) fail_reads: AtomicBool,
    /// How many of the next appends fail, storing nothing.
    pub(crate) fail_appends: AtomicUsize,
    /// The most events one read returns (a store may return fewer than the limit asked for).
    pub(crate) page: AtomicUsize,
}

/// The event the store holds at position `seq`: id `e{seq}`, topic `t`, data `{seq}`.
pub(crate) fn stored_event(seq: u64) -> Arc<Event> {
    let update = Update { topics: vec!["t".into()], data: seq.to_string(), ..Update::default() };
    Arc::new(Event::new(seq, format!("e{seq}").into(), now_ms(), update).expect("encodable"))
}

fn injected(operation: &'static str) -> StoreError {
    StoreError::Io { operation, source: "injected failure".into() }
}

impl TestStore {
    /// A store holding `n` events: positions 1 to `n`, see [`stored_event`].
    pub(crate) fn with_events(n: u64) -> (Arc<Self>, Calls) {
        let (calls, received) = mpsc::unbounded_channel();
        let store = Self {
            log: Mutex::new((1..=n).map(stored_event).collect()),
            batches: Mutex::default(),
            calls,
            reads: Gate::default(),
            appends: Gate::default(),
            fail_reads: AtomicBool::new(false),
            fail_appends: AtomicUsize::new(0),
            page: AtomicUsize::new(usize::MAX),
        };
        (Arc::new(store), Calls(received))
    }

    /// The positions of the stored events.
    pub(crate) fn seqs(&self) -> Vec<u64> {
        self.log.lock().unwrap().iter().map(|e| e.seq).collect()
    }

    /// The size of every batch appended so far.
    pub(crate) fn batches(&self) -> Vec<usize> {
        self.batches.lock().unwrap().clone()
    }
}

impl Store for TestStore {
    fn next_seq(&self) -> u64 {
        self.log.lock().unwrap().last().map_or(1, |e| e.seq + 1)
    }

    fn append(&self, events: &[Arc<Event>], _retention: &Retention, _now_ms: u64) -> Result<(), StoreError> {
        let fail = self.fail_appends.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        self.batches.lock().unwrap().push(events.len());
        if !fail {
            let next = self.next_seq();
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            let expected: Vec<u64> = (next..next + events.len() as u64).collect();
            assert_eq!(seqs, expected, "appended positions must be consecutive from next_seq");
            self.log.lock().unwrap().extend(events.iter().cloned());
        }
        let _ = self.calls.send(Call::Append { len: events.len() });
        self.appends.pass();
        if fail {
            Err(injected("append"))
        } else {
            Ok(())
        }
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let _ = self.calls.send(Call::Read { after, thread: std::thread::current().id() });
        self.reads.pass();
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(injected("read"));
        }
        let limit = limit.min(self.page.load(Ordering::SeqCst));
        Ok(self.log.lock().unwrap().iter().filter(|e| e.seq > after).take(limit).cloned().collect())
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.log.lock().unwrap().iter().find(|e| &*e.id == id).map(|e| e.seq))
    }
}

/// A small in-memory [`SharedLog`] for the unit tests: several hubs given the same one are
/// several nodes. Positions step by [`SharedTestLog::STEP`] (a shared log's positions need not be
/// consecutive); reads wait for appends like a blocking read of a real engine; it can be made to
/// fail, as an engine that went away.
#[derive(Debug, Default)]
pub(crate) struct SharedTestLog {
    log: Mutex<Vec<Arc<Event>>>,
    appended: Condvar,
    /// The size of every batch `append` received, failed ones included.
    batches: Mutex<Vec<usize>>,
    /// While set, every call fails.
    pub(crate) down: AtomicBool,
    /// The largest append it takes, in bytes of [`Event::size`].
    pub(crate) max_bytes: Option<usize>,
    /// Appends wait here, once reported in `batches`, while it is closed.
    pub(crate) appends: Gate,
}

impl SharedTestLog {
    /// A log that takes appends of at most `max_bytes`.
    pub(crate) fn limited_to(max_bytes: usize) -> Self {
        Self { max_bytes: Some(max_bytes), ..Self::default() }
    }

    /// How far apart consecutive positions are.
    pub(crate) const STEP: u64 = 10;

    /// The size of every batch appended so far.
    pub(crate) fn batches(&self) -> Vec<usize> {
        self.batches.lock().unwrap().clone()
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unreachable { engine: "test log".into(), source: format!("{operation}: down").into() })
        } else {
            Ok(())
        }
    }
}

impl crate::store::SharedLog for SharedTestLog {
    fn append(&self, events: &[Event], _retention: &Retention, _now_ms: u64) -> Result<Vec<u64>, StoreError> {
        self.batches.lock().unwrap().push(events.len());
        self.appends.pass();
        self.check("append")?;
        let mut log = self.log.lock().unwrap();
        let mut positions = Vec::with_capacity(events.len());
        for event in events {
            let seq = log.last().map_or(0, |e| e.seq) + Self::STEP;
            // What a node reads back: a copy of what was appended, at the log's position.
            let update = Update {
                topics: event.topics.clone(),
                data: event.data.clone(),
                id: None,
                event_type: event.event_type.clone(),
                retry: event.retry,
                private: event.private,
            };
            log.push(Arc::new(Event::new(seq, event.id.clone(), event.published_ms, update).expect("encodable")));
            positions.push(seq);
        }
        self.appended.notify_all();
        Ok(positions)
    }

    fn max_append_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Vec<Arc<Event>>, StoreError> {
        self.check("read")?;
        let log = self.log.lock().unwrap();
        let (log, _) =
            self.appended.wait_timeout_while(log, wait, |log| log.last().is_none_or(|e| e.seq <= after)).unwrap();
        self.check("read")?;
        Ok(log.iter().filter(|e| e.seq > after).take(limit).cloned().collect())
    }

    fn read_last(&self, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        self.check("read")?;
        let log = self.log.lock().unwrap();
        Ok(log[log.len().saturating_sub(limit)..].to_vec())
    }

    fn last_position(&self) -> Result<u64, StoreError> {
        self.check("read")?;
        Ok(self.log.lock().unwrap().last().map_or(0, |e| e.seq))
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.check("read")?;
        Ok(self.log.lock().unwrap().iter().find(|e| &*e.id == id).map(|e| e.seq))
    }
}
