//! The hub: publishing an event to every matching subscriber, and subscribing with replay.
//!
//! Two locks, taken in this order when both are needed, each synchronous and never held across
//! an await or a disk access (encoding happens before either):
//! - the log's (`Log`): the next position, the in-memory history and the dedup window.
//!   Recording an event takes it briefly, and hands the event to the `fanout` thread.
//! - the registry's (`registry`): the subscribers, and the last event offered to them. The
//!   fan-out thread holds it while it offers events; a subscriber registers under it, with its
//!   replay read from history up to the last recorded event and its mailbox skipping any
//!   event up to there still on its way, so replay and live feed meet with no gap and no
//!   duplicate.
//!
//! Without a store, a publisher records its event itself. With one, publishes go to the
//! `writer` thread, which makes each batch durable first and records it afterwards: a
//! subscriber never sees an event that a crash could take back, and a publisher hears `200`
//! only once its event is on disk. Either way the publisher is answered once its event is
//! recorded, never after the fan-out: thousands of subscribers are served on another thread.
//!
//! Each subscriber has a bounded `Mailbox` of shared `Arc<Event>`s; see `registry` for what
//! happens when one is full.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::access::ReadAccess;
use crate::config::HubConfig;
use crate::dedup::Dedup;
use crate::event::{Event, Update, UpdateError, ValidUpdate};
use crate::fanout;
use crate::follower;
use crate::history::History;
use crate::mailbox::Mailbox;
use crate::matcher::Matcher;
use crate::registry::Registry;
use crate::retention::{now_ms, Retention};
use crate::store::{Durable, Engine, SharedLog, Store, StoreError};
use crate::subscription::{CatchUp, Ended, Subscription};
use crate::writer::{self, Pending};

/// Where a resuming subscriber wants to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Everything history holds.
    Earliest,
    /// Everything after the event bearing this id.
    After(String),
    /// Everything after this position in the hub-wide log ([`Event::seq`]): for transports that
    /// keep their clients' places themselves (Bayeux sessions).
    Position(u64),
}

impl Cursor {
    /// Reads a `Last-Event-ID` value: `earliest` is reserved, anything else is an event id.
    pub fn parse(value: &str) -> Self {
        if value == "earliest" {
            Self::Earliest
        } else {
            Self::After(value.to_owned())
        }
    }
}

/// Why a publish failed.
#[derive(Debug, Clone)]
pub enum PublishError {
    /// The update breaks a protocol rule (400).
    Invalid(UpdateError),
    /// The event could not be made durable (503); nothing was delivered. Shared by every
    /// publish of the failed batch.
    Storage(Arc<StoreError>),
    /// The hub is shutting down (503).
    Closed,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::Storage(e) => write!(f, "could not store the event: {e}"),
            Self::Closed => f.write_str("the hub is shutting down"),
        }
    }
}

impl std::error::Error for PublishError {}

impl From<UpdateError> for PublishError {
    fn from(e: UpdateError) -> Self {
        Self::Invalid(e)
    }
}

/// Counters describing the hub's activity since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Subscribers registered now.
    pub subscribers: u64,
    /// Events published.
    pub published: u64,
    /// Events queued for subscribers, one per subscriber and event.
    pub delivered: u64,
    /// Subscribers dropped because their queue was full.
    pub overflowed: u64,
    /// Events in the in-memory history now.
    pub history_len: u64,
}

/// A subscriber that joined the live feed.
pub(crate) struct Joined {
    /// Its registry key (none on a closed hub).
    pub key: Option<u64>,
    /// The recorded events it still has to send, before its mailbox's.
    pub replay: Vec<Arc<Event>>,
    /// The position and id of the last event recorded when it joined: every event up to there
    /// is in the replay or was not for it, and its mailbox is offered only later ones.
    pub upto: Option<(u64, Arc<str>)>,
}
/// A subscriber still behind memory, and the last delivered position.
pub(crate) type Behind = (Box<CatchUp>, u64);

/// What a subscriber selects and may read.
#[derive(Debug)]
pub(crate) struct Selection {
    pub matchers: Box<[Matcher]>,
    pub access: ReadAccess,
}

impl Selection {
    pub(crate) fn wants(&self, event: &Event) -> bool {
        self.access.allows(event) && event.topics.iter().any(|t| self.matchers.iter().any(|m| m.matches(t)))
    }
}

/// The hub: the shared state behind every transport.
pub struct Hub {
    config: HubConfig,
    pub(crate) log: Mutex<Log>,
    pub(crate) registry: Mutex<Registry>,
    /// Recorded events on their way to the fan-out thread.
    pub(crate) fanout: Arc<fanout::Queue>,
    /// Told after each fan-out pass (see [`Hub::flush`]).
    offered: tokio::sync::Notify,
    pub(crate) store: Option<Durable>,
    writer: Option<mpsc::Sender<Pending>>,
    next_key: AtomicU64,
    published: AtomicU64,
    /// When the hub was built, in ms since the epoch.
    started_ms: u64,
    /// Told when the hub starts draining (shutting down).
    draining: tokio::sync::watch::Sender<bool>,
    delivered: AtomicU64,
    overflowed: AtomicU64,
    /// With a shared log: whether the follower's last read of it succeeded.
    pub(crate) log_readable: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("config", &self.config).field("store", &self.store).finish_non_exhaustive()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.fanout.close();
    }
}

/// The hub-wide log as this node holds it: positions, recent events, accepted ids.
pub(crate) struct Log {
    /// Position of the next event.
    pub next_seq: u64,
    /// Recent events (all of history without a store).
    pub history: History,
    /// Ids publishers gave, accepted within the dedup window (when one is configured).
    pub(crate) dedup: Option<Dedup>,
}

impl Hub {
    /// A hub whose history lives in memory only.
    pub fn new(config: HubConfig) -> Arc<Self> {
        let history = History::new(config.retention);
        Arc::new_cyclic(|weak| Self::build(weak, config, history, 1, None, None))
    }

    /// A hub on `engine`: [`Hub::new`] for memory, [`Hub::with_store`] for a local store,
    /// [`Hub::with_shared_log`] for a shared one.
    pub fn with_engine(config: HubConfig, engine: Engine) -> Result<Arc<Self>, StoreError> {
        match engine {
            Engine::Memory => Ok(Self::new(config)),
            Engine::Local(store) => Self::with_store(config, store),
            Engine::Shared(log) => Self::with_shared_log(config, log),
        }
    }

    /// A hub whose history is kept by `store`; the newest events are loaded into memory and
    /// positions continue where the store left off.
    pub fn with_store(config: HubConfig, store: Arc<dyn Store>) -> Result<Arc<Self>, StoreError> {
        let next_seq = store.next_seq();
        let mut history = History::new(Self::cache_retention(&config));
        let now = now_ms();
        let from = next_seq.saturating_sub(config.cache_size.saturating_add(1));
        for event in store.read_after(from, config.cache_size as usize)? {
            history.push(event, now);
        }
        let (tx, rx) = mpsc::channel(writer::QUEUE);
        let hub = Arc::new_cyclic(|weak| {
            writer::spawn(weak.clone(), rx, store.clone(), config.publish_nice);
            Self::build(weak, config, history, next_seq, Some(Durable::Local(store)), Some(tx))
        });
        Ok(hub)
    }

    /// A hub that is one node of several sharing `log`: its newest events are loaded into
    /// memory, publishes are appended to it, and a follower thread delivers every event the log
    /// receives (from any node) to this node's subscribers, in the log's order.
    pub fn with_shared_log(config: HubConfig, log: Arc<dyn SharedLog>) -> Result<Arc<Self>, StoreError> {
        let last = log.last_position()?;
        let mut history = History::new(Self::cache_retention(&config));
        let now = now_ms();
        let cached = log.read_last(config.cache_size as usize)?;
        let newest = cached.last().map_or(0, |event| event.seq);
        let mut dedup = config.dedup_window.map(Dedup::new);
        for event in cached {
            // A publisher retrying on this node an id that another node accepted just before.
            if let Some(dedup) = dedup.as_mut().filter(|d| d.covers(event.published_ms, now)) {
                dedup.record(event.id.clone(), event.published_ms, event.seq);
            }
            history.push(event, now);
        }
        let next_seq = last.max(newest) + 1;
        let (tx, rx) = mpsc::channel(writer::QUEUE);
        let hub = Arc::new_cyclic(|weak| {
            writer::spawn_shared(weak.clone(), rx, log.clone(), config.publish_nice);
            let mut hub = Self::build(weak, config, history, next_seq, Some(Durable::Shared(log.clone())), Some(tx));
            hub.log.get_mut().dedup = dedup;
            hub
        });
        // Started once the hub exists: it stops when it finds the hub gone.
        follower::spawn(Arc::downgrade(&hub), log, next_seq - 1);
        Ok(hub)
    }

    /// The in-memory cache's limits in front of a durable log: the retention's, and at most
    /// `cache_size` events.
    fn cache_retention(config: &HubConfig) -> Retention {
        Retention {
            max_events: Some(config.cache_size.min(config.retention.max_events.unwrap_or(u64::MAX))),
            ..config.retention
        }
    }

    /// The hub (to be `weak`'s), with its fan-out thread started.
    fn build(
        weak: &Weak<Self>,
        config: HubConfig,
        history: History,
        next_seq: u64,
        store: Option<Durable>,
        writer: Option<mpsc::Sender<Pending>>,
    ) -> Self {
        let next_seq = next_seq.max(1);
        let log = Log { next_seq, history, dedup: config.dedup_window.map(Dedup::new) };
        // Subscribers registered before the first publish start after what the log holds.
        let registry = Registry::new(next_seq - 1, log.last_recorded());
        let fanout = Arc::new(fanout::Queue::default());
        fanout::spawn(weak.clone(), fanout.clone());
        Self {
            config,
            log: Mutex::new(log),
            registry: Mutex::new(registry),
            fanout,
            offered: tokio::sync::Notify::new(),
            store,
            writer,
            next_key: AtomicU64::new(0),
            published: AtomicU64::new(0),
            started_ms: now_ms(),
            draining: tokio::sync::watch::Sender::new(false),
            delivered: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            log_readable: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// When the hub was built, in ms since the epoch.
    pub(crate) fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Validates `update`, records it in history and queues it for every matching subscriber.
    /// With a store, returns once the event is durable.
    pub async fn publish(&self, update: Update) -> Result<Arc<Event>, PublishError> {
        self.publish_valid(update.into_valid(&self.config.hub_url)?).await
    }

    /// Publishes an update that was already validated: records it in history and queues it
    /// for every matching subscriber. With a store, returns once the event is durable.
    pub async fn publish_valid(&self, update: ValidUpdate) -> Result<Arc<Event>, PublishError> {
        let entry = Self::prepare(update)?;
        self.submit(vec![entry]).await?.pop().ok_or(PublishError::Closed)
    }

    /// Publishes several validated updates as one: all of them or none (one durable write with
    /// a store), at consecutive positions in the order given, delivered together. Returns the
    /// events in that order. An update whose id was accepted within the dedup window is answered
    /// with the earlier event, as [`publish_valid`](Self::publish_valid) does.
    pub async fn publish_batch_valid(&self, updates: Vec<ValidUpdate>) -> Result<Vec<Arc<Event>>, PublishError> {
        let entries = updates.into_iter().map(Self::prepare).collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.submit(entries).await
    }

    /// The event for `update` (its id given or generated; position not yet assigned), and
    /// whether the publisher gave the id.
    fn prepare(update: ValidUpdate) -> Result<(Event, bool), PublishError> {
        let mut update = update.into_inner();
        let (id, given_id): (Arc<str>, bool) = match update.id.take().filter(|id| !id.is_empty()) {
            Some(id) => (id.into(), true),
            None => (format!("urn:uuid:{}", Uuid::now_v7()).into(), false),
        };
        let event = Event::new(0, id, now_ms(), update)
            .map_err(|e| PublishError::Invalid(UpdateError::Unencodable(e.to_string())))?;
        Ok((event, given_id))
    }

    /// Gives positions to `entries` and records them: through the writer thread once durable,
    /// or at once without a store. Returns once they are recorded; the fan-out thread offers
    /// them to the subscribers.
    async fn submit(&self, entries: Vec<(Event, bool)>) -> Result<Vec<Arc<Event>>, PublishError> {
        let Some(writer) = &self.writer else {
            if !self.fanout.room().await {
                return Err(PublishError::Closed);
            }
            let mut published = Vec::with_capacity(entries.len());
            let mut log = self.log.lock();
            for (mut event, given_id) in entries {
                if given_id {
                    if let Some(seq) = log.dedup.as_mut().and_then(|d| d.accepted(&event.id, event.published_ms)) {
                        // A retry of an accepted publish: answered again, not delivered again.
                        event.seq = seq;
                        published.push(Arc::new(event));
                        continue;
                    }
                }
                event.seq = log.next_seq;
                let event = Arc::new(event);
                self.record(&mut log, std::slice::from_ref(&event), &[given_id]);
                published.push(event);
            }
            return Ok(published);
        };
        let (reply, answer) = oneshot::channel();
        writer.send(Pending { events: entries, reply }).await.map_err(|_| PublishError::Closed)?;
        answer.await.map_err(|_| PublishError::Closed)?
    }

    /// [`Hub::record`] for a thread of the hub's (the writer, the follower): waits for room in
    /// the fan-out queue first, blocking, then records under the log's lock.
    pub(crate) fn record_from_thread(&self, events: &[Arc<Event>], given_id: &[bool]) {
        self.fanout.wait_for_room();
        self.record(&mut self.log.lock(), events, given_id);
    }

    /// Records `events` (positions from `log.next_seq` on) in history and queues them for the
    /// fan-out thread. `given_id[i]` says whether the publisher gave `events[i]` its id (for
    /// the dedup window). The caller holds the log's lock, so events reach the fan-out in the
    /// order of their positions; it waited for room in the queue before taking it.
    fn record(&self, log: &mut Log, events: &[Arc<Event>], given_id: &[bool]) {
        let now = now_ms();
        for (i, event) in events.iter().enumerate() {
            let given = given_id.get(i).copied().unwrap_or(false);
            if let (true, Some(dedup)) = (given, log.dedup.as_mut()) {
                dedup.record(event.id.clone(), event.published_ms, event.seq);
            }
            log.next_seq = event.seq + 1;
            log.history.push(event.clone(), now);
        }
        if !self.offered_to_no_one(events) {
            self.fanout.push(events);
        }
        self.published.fetch_add(events.len() as u64, Ordering::Relaxed);
    }

    /// With no subscriber and nothing queued, there is no one to offer `events` to: they count
    /// as offered at once, and the fan-out thread is not woken for them (publishing to a hub
    /// nobody watches costs no thread switch). Called under the log's lock, so the registry's
    /// is only tried, never waited for; a subscriber registering later starts after them.
    fn offered_to_no_one(&self, events: &[Arc<Event>]) -> bool {
        if !self.fanout.is_empty() {
            return false;
        }
        let Some(mut registry) = self.registry.try_lock() else {
            return false;
        };
        if !registry.subscribers.is_empty() {
            return false;
        }
        registry.mark_offered(events);
        drop(registry);
        self.offered.notify_waiters();
        true
    }

    /// Offers `events` (taken from the fan-out queue, in log order) to the subscribers; the
    /// waiting ones' wakers go to `wakers`, for the fan-out thread to wake once the lock is
    /// released.
    pub(crate) fn offer(&self, events: &[Arc<Event>], wakers: &mut Vec<Waker>) {
        {
            let mut registry = self.registry.lock();
            let (delivered, overflowed) = registry.offer(events, wakers);
            // Counted under the lock: whoever sees the events offered sees them counted.
            self.delivered.fetch_add(delivered, Ordering::Relaxed);
            self.overflowed.fetch_add(overflowed, Ordering::Relaxed);
        }
        self.offered.notify_waiters();
    }

    /// Blocks until every event recorded so far has been offered: for tests whose clock is
    /// paused, where awaiting [`Hub::flush`] would let the clock run ahead meanwhile.
    #[cfg(test)]
    pub(crate) fn settle(&self) {
        let recorded = self.head();
        let deadline = std::time::Instant::now() + crate::test_store::PATIENCE;
        while self.registry.lock().offered_upto < recorded {
            assert!(std::time::Instant::now() < deadline, "the fan-out never offered event {recorded}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Returns once every event recorded before the call (every publish answered so far) has
    /// been offered to the subscribers: their queues hold it, and the counters of
    /// [`Hub::stats`] include it. Publishing does not wait for this; a caller that needs the
    /// subscribers' side to have caught up (before shutting down, in tests) does.
    pub async fn flush(&self) {
        let recorded = self.head();
        loop {
            let told = self.offered.notified();
            tokio::pin!(told);
            told.as_mut().enable();
            if self.registry.lock().offered_upto >= recorded || !self.fanout.is_open() {
                return;
            }
            told.await;
        }
    }

    /// Subscribes to topics selected by `matchers`, first replaying history after `from`.
    ///
    /// An unknown or trimmed id replays everything history still holds, and
    /// [`Subscription::resumed_from`] says `earliest` so the client can tell. A cursor older than
    /// the in-memory history is looked up in the store on tokio's blocking pool, never on the
    /// async worker that awaits this.
    pub async fn subscribe(
        self: &Arc<Self>,
        matchers: Vec<Matcher>,
        access: ReadAccess,
        from: Option<Cursor>,
    ) -> Result<Subscription, StoreError> {
        let selection = Arc::new(Selection { matchers: matchers.into(), access });
        // Resolve the cursor: the cache first, then (without holding the lock) the store.
        let start = match from {
            None => None,
            Some(Cursor::Earliest) => Some((0, "earliest".to_owned())),
            Some(Cursor::Position(seq)) => Some((seq, seq.to_string())),
            Some(Cursor::After(id)) => {
                let cached = self.log.lock().history.position_of(&id);
                let found = match (cached, &self.store) {
                    (Some(seq), _) => Some(seq),
                    (None, Some(store)) => position_in_store(store.clone(), id.clone()).await?,
                    (None, None) => None,
                };
                Some(match found {
                    Some(seq) => (seq, id),
                    None => (0, "earliest".to_owned()),
                })
            }
        };
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::new(key, selection, self.config.queue_capacity));
        let resumed_from = start.as_ref().map(|(_, r)| r.clone());
        let mut subscription = Subscription::new(self.clone(), mailbox.clone(), resumed_from);
        match start {
            None => {
                let mut registry = self.registry.lock();
                let upto = {
                    let log = self.log.lock();
                    // Recorded up to here: offered to it from the next one on (see `join_live`).
                    mailbox.start_after(log.next_seq - 1);
                    log.last_recorded()
                };
                let key = registry.register(mailbox);
                drop(registry);
                subscription.set_starts_after(upto.as_ref().map(|(_, id)| id.clone()));
                subscription.set_live(Joined { key, replay: Vec::new(), upto });
            }
            Some((after, _)) => match self.join_live(CatchUp::new(after, mailbox)) {
                Ok(joined) => subscription.set_live(joined),
                Err((catch_up, _)) => subscription.set_catching_up(catch_up),
            },
        }
        Ok(subscription)
    }

    /// Registers a resuming subscriber, with the rest of its replay taken from memory, when
    /// memory holds everything recorded after its position (always, without a store).
    /// Otherwise hands it back with the last recorded position, to read the store up to there
    /// first.
    ///
    /// The replay runs up to the last recorded event, and the subscriber's mailbox is offered
    /// only what comes after it. Both are read under the registry's lock, which every fan-out
    /// pass takes: an event recorded later is offered once the subscriber is registered, and
    /// the ones recorded before, still on their way to the fan-out, are skipped by its mailbox.
    pub(crate) fn join_live(&self, catch_up: Box<CatchUp>) -> Result<Joined, Behind> {
        let mut registry = self.registry.lock();
        let (replay, upto) = {
            let log = self.log.lock();
            let recorded = log.next_seq - 1;
            if self.store.is_some() && !log.covers(catch_up.after) {
                return Err((catch_up, recorded));
            }
            catch_up.mailbox.start_after(catch_up.after.max(recorded));
            (log.replay_after(&catch_up, &self.config.retention), log.last_recorded())
        };
        Ok(Joined { key: registry.register(catch_up.mailbox), replay, upto })
    }

    /// Whether the hub has started draining ([`Hub::drain`]).
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Returns once the hub has started draining ([`Hub::drain`]): a transport whose requests
    /// are short (a long-poll) answers then, without waiting for its turn.
    pub async fn draining(&self) {
        let mut draining = self.draining.subscribe();
        // An error means the hub is gone: as good as drained.
        let _ = draining.wait_for(|draining| *draining).await;
    }

    /// Ends every subscription (their streams finish after draining), e.g. on shutdown.
    pub fn disconnect_all(&self) {
        self.registry.lock().close_all();
    }

    /// Ends every subscription with [`Ended::Closed`], one after the other in a random order
    /// spread evenly over `period`, so that their clients do not all come back at the same moment
    /// (a rolling restart). No subscription is registered meanwhile; the ones not yet ended keep
    /// receiving events. Returns once every one has ended; a zero `period` ends them all at once.
    /// Every event published before the call reaches the subscribers' queues first.
    pub async fn drain(&self, period: Duration) {
        self.draining.send_replace(true);
        self.flush().await;
        let mut keys: Vec<u64> = {
            let mut registry = self.registry.lock();
            registry.closed = true;
            registry.subscribers.keys().copied().collect()
        };
        fastrand::shuffle(&mut keys);
        let start = tokio::time::Instant::now();
        let count = keys.len();
        for (i, key) in keys.into_iter().enumerate() {
            let share = i as f64 / count as f64;
            let offset = Duration::try_from_secs_f64(period.as_secs_f64() * share).unwrap_or(period);
            if let Some(at) = start.checked_add(offset) {
                tokio::time::sleep_until(at).await;
            }
            self.registry.lock().remove(key, Ended::Closed);
        }
        // Anything registered before `closed` was seen (none should be) ends now.
        self.disconnect_all();
    }

    /// With a shared log, whether this node could read it last time it tried (about every
    /// second); `None` on a single node.
    pub fn shared_log_readable(&self) -> Option<bool> {
        matches!(self.store, Some(Durable::Shared(_))).then(|| self.log_readable.load(Ordering::Relaxed))
    }

    /// How much its store retains, if it has one that keeps count.
    pub fn store_footprint(&self) -> Option<crate::store::Footprint> {
        self.store.as_ref().and_then(|store| store.footprint())
    }

    /// The position of the event bearing `id`, from history or else the store; `None` when
    /// neither holds it (never published, or trimmed).
    pub async fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let cached = self.log.lock().history.position_of(id);
        match (cached, &self.store) {
            (Some(seq), _) => Ok(Some(seq)),
            (None, Some(store)) => position_in_store(store.clone(), id.to_owned()).await,
            (None, None) => Ok(None),
        }
    }

    /// The position of the newest event in the log (0 before the first): a subscriber that
    /// later resumes after it ([`Cursor::Position`]) misses nothing published from now on.
    pub fn head(&self) -> u64 {
        self.log.lock().next_seq.saturating_sub(1)
    }

    /// The id of the newest event in the log, if history holds one: the cursor a client
    /// passes back to miss nothing published after a snapshot it read now.
    pub fn last_event_id(&self) -> Option<Arc<str>> {
        self.log.lock().history.last().map(|event| event.id.clone())
    }

    /// The hub's counters, read now.
    pub fn stats(&self) -> HubStats {
        let subscribers = self.registry.lock().subscribers.len() as u64;
        HubStats {
            subscribers,
            history_len: self.log.lock().history.len() as u64,
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
        }
    }

    /// How many subscribers name `topic` exactly (subscribers with a pattern are not counted):
    /// for a page that publishes only while someone watches it.
    pub fn subscribers_naming(&self, topic: &str) -> usize {
        self.registry.lock().by_topic.get(topic).map_or(0, Vec::len)
    }

    /// How many subscribers name `topic` exactly and may read its private updates: for a
    /// private page that publishes only while someone authorized watches it.
    pub fn readers_naming(&self, topic: &str) -> usize {
        let registry = self.registry.lock();
        registry
            .by_topic
            .get(topic)
            .map_or(0, |mailboxes| mailboxes.iter().filter(|m| m.selection.access.allows_topic(topic)).count())
    }

    /// The `n` topics with the most subscribers naming them exactly, busiest first (subscribers
    /// with a pattern are not counted).
    pub fn busiest_topics(&self, n: usize) -> Vec<(String, usize)> {
        let registry = self.registry.lock();
        let mut counts: Vec<(&str, usize)> =
            registry.by_topic.iter().map(|(topic, mailboxes)| (&**topic, mailboxes.len())).collect();
        let n = n.min(counts.len());
        if n == 0 {
            return Vec::new();
        }
        counts.select_nth_unstable_by(n - 1, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        counts.truncate(n);
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        counts.into_iter().map(|(topic, count)| (topic.to_owned(), count)).collect()
    }

    pub(crate) fn unsubscribe(&self, key: u64) {
        self.registry.lock().remove(key, Ended::Closed);
    }

    /// The position and id of the last event offered to the subscribers, if the subscriber
    /// `key` is still registered (so it has been offered every event up to there).
    pub(crate) fn head_if_subscribed(&self, key: u64) -> Option<(u64, Arc<str>)> {
        let registry = self.registry.lock();
        if !registry.subscribers.contains_key(&key) {
            return None;
        }
        registry.last_offered.clone()
    }
}

/// The position of the earliest retained event bearing `id`, read on the blocking pool (inline
/// outside a tokio runtime).
async fn position_in_store(store: Durable, id: String) -> Result<Option<u64>, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(move || store.position_of(&id))
            .await
            .unwrap_or_else(|e| Err(StoreError::Io { operation: "looking up an event id", source: Box::new(e) })),
        Err(_) => store.position_of(&id),
    }
}

impl Log {
    /// The position and id of the newest event in memory.
    fn last_recorded(&self) -> Option<(u64, Arc<str>)> {
        self.history.last().map(|event| (event.seq, event.id.clone()))
    }

    /// True when everything after position `after` that was recorded is in memory.
    pub(crate) fn covers(&self, after: u64) -> bool {
        after.saturating_add(1) >= self.history.first_seq().unwrap_or(self.next_seq)
    }

    /// What a subscriber catching up at `catch_up.after` gets from memory.
    pub(crate) fn replay_after(&self, catch_up: &CatchUp, retention: &Retention) -> Vec<Arc<Event>> {
        let now = now_ms();
        self.history
            .after(catch_up.after)
            .filter(|e| !retention.expired(e.published_ms, now) && catch_up.mailbox.selection.wants(e))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn hub(queue_capacity: usize) -> Arc<Hub> {
        Hub::new(HubConfig { queue_capacity, ..HubConfig::default() })
    }

    fn update(topics: &[&str], data: &str) -> Update {
        Update { topics: topics.iter().map(|t| t.to_string()).collect(), data: data.into(), ..Update::default() }
    }

    fn exact(topics: &[&str]) -> Vec<Matcher> {
        topics.iter().map(|t| Matcher::exact(t).unwrap()).collect()
    }

    /// Subscribes live with public access; returns the subscriber's registry key too.
    async fn subscribe(hub: &Arc<Hub>, matchers: Vec<Matcher>) -> (u64, Subscription) {
        let key = hub.next_key.load(Ordering::Relaxed);
        let subscription = hub.subscribe(matchers, ReadAccess::public_only(), None).await.unwrap();
        assert!(hub.registry.lock().subscribers.contains_key(&key));
        (key, subscription)
    }

    /// `hub`, once the fan-out offered every event published so far.
    async fn flushed(hub: &Hub) -> &Hub {
        hub.flush().await;
        hub
    }

    /// The data of the events waiting for `subscription`, once the fan-out offered every
    /// event published so far.
    async fn received(hub: &Hub, subscription: &mut Subscription) -> Vec<String> {
        hub.flush().await;
        std::iter::from_fn(|| subscription.try_recv()).map(|e| e.data.clone()).collect()
    }

    /// The keys indexed under each topic, and the keys on the broad list.
    fn index(hub: &Hub) -> (BTreeMap<String, Vec<u64>>, Vec<u64>) {
        let state = hub.registry.lock();
        let by_topic = state
            .by_topic
            .iter()
            .map(|(topic, mailboxes)| (topic.to_string(), mailboxes.iter().map(|m| m.key).collect()))
            .collect();
        (by_topic, state.broad.iter().map(|m| m.key).collect())
    }

    async fn ended(subscription: &mut Subscription) -> Ended {
        let next = tokio::time::timeout(crate::test_store::PATIENCE, subscription.recv()).await;
        next.expect("the feed did not end").expect_err("the feed should have ended")
    }

    #[tokio::test]
    async fn subscribers_of_a_topic_and_the_busiest_topics_are_counted() {
        let hub = hub(16);
        let _a = subscribe(&hub, exact(&["/a"])).await;
        let _ab = subscribe(&hub, exact(&["/a", "/b"])).await;
        let _b = subscribe(&hub, exact(&["/b"])).await;
        let _c = subscribe(&hub, exact(&["/c", "/b"])).await;
        let _all = subscribe(&hub, exact(&["*"])).await;
        assert_eq!(hub.subscribers_naming("/a"), 2);
        assert_eq!(hub.subscribers_naming("/b"), 3);
        assert_eq!(hub.subscribers_naming("/nobody"), 0);
        // Only subscribers whose rights read `/a`'s private updates are its readers.
        assert_eq!(hub.readers_naming("/a"), 0);
        let access = ReadAccess::with_private(exact(&["/a"]));
        let _reader = hub.subscribe(exact(&["/a"]), access, None).await.unwrap();
        assert_eq!((hub.readers_naming("/a"), hub.subscribers_naming("/a")), (1, 3));
        assert_eq!(hub.busiest_topics(2), [("/a".to_owned(), 3), ("/b".to_owned(), 3)]);
        assert_eq!(hub.busiest_topics(10).len(), 3);
        assert!(hub.busiest_topics(0).is_empty());
    }

    #[tokio::test]
    async fn exact_subscribers_are_indexed_by_topic_and_reached_only_for_their_topics() {
        let hub = hub(16);
        let (a, mut sub_a) = subscribe(&hub, exact(&["/a"])).await;
        let (b, mut sub_b) = subscribe(&hub, exact(&["/b"])).await;
        let (ab, mut sub_ab) = subscribe(&hub, exact(&["/a", "/b"])).await;
        let (by_topic, broad) = index(&hub);
        assert_eq!(by_topic, BTreeMap::from([("/a".into(), vec![a, ab]), ("/b".into(), vec![b, ab])]));
        assert!(broad.is_empty());

        hub.publish(update(&["/a"], "1")).await.unwrap();
        hub.publish(update(&["/b"], "2")).await.unwrap();
        hub.publish(update(&["/c"], "3")).await.unwrap();
        assert_eq!(received(&hub, &mut sub_a).await, ["1"]);
        assert_eq!(received(&hub, &mut sub_b).await, ["2"]);
        assert_eq!(received(&hub, &mut sub_ab).await, ["1", "2"]);
        assert_eq!(flushed(&hub).await.stats().delivered, 4);
    }

    #[tokio::test]
    async fn broad_subscribers_are_reached_when_one_of_their_matchers_selects_a_topic() {
        let hub = hub(16);
        let hub_url = hub.config().hub_url.clone();
        let (pattern, mut by_pattern) =
            subscribe(&hub, vec![Matcher::url_pattern("/books/:id", &hub_url).unwrap()]).await;
        let (template, mut by_template) = subscribe(&hub, vec![Matcher::legacy_topic("/authors/{id}").unwrap()]).await;
        // One matcher that is not exact puts the whole subscriber on the broad list.
        let (mixed, mut mixed_sub) = subscribe(
            &hub,
            vec![Matcher::exact("/news").unwrap(), Matcher::legacy_topic("/authors/{id}/books").unwrap()],
        )
        .await;
        let (indexed, mut indexed_sub) = subscribe(&hub, exact(&["/books/1"])).await;
        let (by_topic, broad) = index(&hub);
        assert_eq!(by_topic, BTreeMap::from([("/books/1".into(), vec![indexed])]));
        assert_eq!(broad, [pattern, template, mixed]);

        hub.publish(update(&["/books/1"], "relative book")).await.unwrap();
        hub.publish(update(&["http://localhost/books/2"], "absolute book")).await.unwrap();
        hub.publish(update(&["/authors/7"], "author")).await.unwrap();
        hub.publish(update(&["/authors/7/books"], "author's books")).await.unwrap();
        hub.publish(update(&["/news"], "news")).await.unwrap();
        hub.publish(update(&["/books/1/reviews", "http://elsewhere.example/books/3"], "nobody")).await.unwrap();
        assert_eq!(received(&hub, &mut by_pattern).await, ["relative book", "absolute book"]);
        assert_eq!(received(&hub, &mut by_template).await, ["author"]);
        assert_eq!(received(&hub, &mut mixed_sub).await, ["author's books", "news"]);
        assert_eq!(received(&hub, &mut indexed_sub).await, ["relative book"]);
        assert_eq!(flushed(&hub).await.stats().delivered, 6);
    }

    #[tokio::test]
    async fn an_event_selected_through_several_topics_of_one_subscriber_is_queued_once() {
        let hub = hub(16);
        let (_, mut indexed) = subscribe(&hub, exact(&["/a", "/b"])).await;
        let (_, mut broad) =
            subscribe(&hub, vec![Matcher::legacy_topic("/{x}").unwrap(), Matcher::exact("/a").unwrap()]).await;
        hub.publish(update(&["/a", "/b"], "1")).await.unwrap();
        hub.publish(update(&["/b", "/a", "/b"], "2")).await.unwrap();
        assert_eq!(received(&hub, &mut indexed).await, ["1", "2"]);
        assert_eq!(received(&hub, &mut broad).await, ["1", "2"]);
        assert_eq!(flushed(&hub).await.stats().delivered, 4);
    }

    #[tokio::test]
    async fn a_subscriber_overflowing_on_an_event_with_several_of_its_topics_counts_once() {
        let hub = hub(1);
        let (_, mut slow) = subscribe(&hub, exact(&["/a", "/b"])).await;
        hub.publish(update(&["/a"], "1")).await.unwrap();
        hub.publish(update(&["/a", "/b"], "2")).await.unwrap();
        let stats = flushed(&hub).await.stats();
        assert_eq!((stats.delivered, stats.overflowed, stats.subscribers), (1, 1, 0));
        assert_eq!(index(&hub), (BTreeMap::new(), vec![]), "dropped from the index");
        assert_eq!(received(&hub, &mut slow).await, ["1"]);
        assert_eq!(ended(&mut slow).await, Ended::Overflowed);
    }

    #[tokio::test]
    async fn dropping_subscriptions_removes_them_from_the_index() {
        let hub = hub(16);
        let hub_url = hub.config().hub_url.clone();
        let (a, sub_a) = subscribe(&hub, exact(&["/a"])).await;
        let (_, sub_ab) = subscribe(&hub, exact(&["/a", "/b"])).await;
        let (p, sub_p) = subscribe(&hub, vec![Matcher::url_pattern("/books/:id", &hub_url).unwrap()]).await;
        let (q, sub_q) = subscribe(&hub, vec![Matcher::exact("*").unwrap()]).await;

        drop(sub_ab);
        assert_eq!(index(&hub), (BTreeMap::from([("/a".into(), vec![a])]), vec![p, q]));
        drop(sub_p);
        assert_eq!(index(&hub), (BTreeMap::from([("/a".into(), vec![a])]), vec![q]));
        drop(sub_a);
        drop(sub_q);
        let state = hub.registry.lock();
        assert!(state.by_topic.is_empty(), "no topic left behind: {:?}", state.by_topic.keys().collect::<Vec<_>>());
        assert!(state.broad.is_empty());
        assert!(state.subscribers.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn draining_ends_the_feeds_one_by_one_over_the_period_and_registers_no_one() {
        let hub = hub(64);
        let mut feeds = Vec::new();
        for _ in 0..10 {
            feeds.push(subscribe(&hub, exact(&["/a"])).await.1);
        }
        let started = tokio::time::Instant::now();
        let draining = tokio::spawn({
            let hub = hub.clone();
            async move { hub.drain(Duration::from_secs(10)).await }
        });
        tokio::task::yield_now().await;
        let mut late = hub.subscribe(exact(&["/a"]), ReadAccess::public_only(), None).await.unwrap();
        assert_eq!(ended(&mut late).await, Ended::Closed, "no registration while draining");
        // Halfway through, about half have ended; the others still receive events.
        tokio::time::sleep(Duration::from_millis(4_500)).await;
        assert_eq!(hub.stats().subscribers, 5);
        hub.publish(update(&["/a"], "while draining")).await.unwrap();
        // Waited for without yielding: the paused clock would otherwise run on meanwhile.
        hub.settle();
        assert_eq!(hub.stats().delivered, 5);
        draining.await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(9) && started.elapsed() < Duration::from_secs(10));
        assert_eq!(hub.stats().subscribers, 0);
        let mut got_it = 0;
        for feed in &mut feeds {
            got_it += std::iter::from_fn(|| feed.try_recv()).count();
            assert_eq!(ended(feed).await, Ended::Closed);
        }
        assert_eq!(got_it, 5);
    }

    #[tokio::test]
    async fn disconnect_all_ends_every_feed_and_later_subscriptions_end_at_once() {
        let hub = hub(16);
        let (_, mut indexed) = subscribe(&hub, exact(&["/a"])).await;
        let (_, mut broad) = subscribe(&hub, vec![Matcher::legacy_topic("/{x}").unwrap()]).await;
        hub.publish(update(&["/a"], "1")).await.unwrap();
        hub.flush().await;
        hub.disconnect_all();
        assert_eq!(index(&hub), (BTreeMap::new(), vec![]));
        assert_eq!(flushed(&hub).await.stats().subscribers, 0);
        // What was queued still comes out, then the end.
        assert_eq!(received(&hub, &mut indexed).await, ["1"]);
        assert_eq!(ended(&mut indexed).await, Ended::Closed);
        assert_eq!(received(&hub, &mut broad).await, ["1"]);
        assert_eq!(ended(&mut broad).await, Ended::Closed);

        let mut late = hub.subscribe(exact(&["/a"]), ReadAccess::public_only(), None).await.unwrap();
        assert_eq!(ended(&mut late).await, Ended::Closed);
        let mut resuming =
            hub.subscribe(exact(&["/a"]), ReadAccess::public_only(), Some(Cursor::Earliest)).await.unwrap();
        assert_eq!(received(&hub, &mut resuming).await, ["1"], "the replay, then the end");
        assert_eq!(ended(&mut resuming).await, Ended::Closed);
        hub.publish(update(&["/a"], "2")).await.unwrap();
        assert_eq!(flushed(&hub).await.stats().subscribers, 0);
        assert_eq!(flushed(&hub).await.stats().delivered, 2);
        assert!(hub.registry.lock().subscribers.is_empty());
    }

    #[tokio::test]
    async fn stats_count_published_delivered_and_overflowed() {
        let hub = hub(2);
        let mut fast = hub.subscribe(exact(&["/t"]), ReadAccess::with_private(exact(&["/t"])), None).await.unwrap();
        let (_, slow) = subscribe(&hub, exact(&["/t"])).await;
        let (_, _other) = subscribe(&hub, exact(&["/other"])).await;
        let stats = |published, delivered, overflowed, subscribers| HubStats {
            subscribers,
            published,
            delivered,
            overflowed,
            history_len: published,
        };
        assert_eq!(flushed(&hub).await.stats(), stats(0, 0, 0, 3));

        hub.publish(update(&["/t"], "1")).await.unwrap();
        assert_eq!(flushed(&hub).await.stats(), stats(1, 2, 0, 3));
        // Private: only the subscriber allowed to read it counts as a delivery.
        hub.publish(Update { private: true, ..update(&["/t"], "2") }).await.unwrap();
        assert_eq!(flushed(&hub).await.stats(), stats(2, 3, 0, 3));
        assert_eq!(received(&hub, &mut fast).await, ["1", "2"]);
        hub.publish(update(&["/t"], "3")).await.unwrap();
        assert_eq!(flushed(&hub).await.stats(), stats(3, 5, 0, 3));
        // The slow subscriber holds two events: the next one overflows its queue.
        hub.publish(update(&["/t"], "4")).await.unwrap();
        assert_eq!(flushed(&hub).await.stats(), stats(4, 6, 1, 2));
        assert_eq!(received(&hub, &mut fast).await, ["3", "4"]);
        hub.publish(update(&["/t"], "5")).await.unwrap();
        assert_eq!(flushed(&hub).await.stats(), stats(5, 7, 1, 2));
        assert_eq!(received(&hub, &mut fast).await, ["5"]);
        drop(slow);
        assert_eq!(flushed(&hub).await.stats(), stats(5, 7, 1, 2), "dropping it afterwards changes no counter");
    }

    #[tokio::test]
    async fn head_if_subscribed_is_the_log_head_while_registered_and_none_after() {
        let hub = hub(1);
        let (key, subscription) = subscribe(&hub, exact(&["/a"])).await;
        let (slow_key, _slow) = subscribe(&hub, exact(&["/b"])).await;
        assert_eq!(flushed(&hub).await.head_if_subscribed(key), None, "nothing in history yet");
        let first = hub.publish(update(&["/a"], "1")).await.unwrap();
        assert_eq!(flushed(&hub).await.head_if_subscribed(key), Some((first.seq, first.id.clone())));
        // The head of the hub-wide log, whatever the subscriber selects.
        let other = hub.publish(update(&["/b"], "2")).await.unwrap();
        assert_eq!(flushed(&hub).await.head_if_subscribed(key), Some((other.seq, other.id.clone())));
        assert_eq!(flushed(&hub).await.head_if_subscribed(slow_key), Some((other.seq, other.id.clone())));
        // Dropped for overflow: no longer offered every event.
        hub.publish(update(&["/b"], "3")).await.unwrap();
        assert_eq!(flushed(&hub).await.head_if_subscribed(slow_key), None);
        assert!(flushed(&hub).await.head_if_subscribed(key).is_some());
        drop(subscription);
        assert_eq!(flushed(&hub).await.head_if_subscribed(key), None);
        assert_eq!(flushed(&hub).await.head_if_subscribed(u64::MAX), None, "an unknown key");
    }
}
