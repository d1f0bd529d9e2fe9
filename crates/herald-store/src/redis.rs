//! A log in Redis Streams that several Herald nodes share.
//!
//! [`RedisLog`] implements [`herald_core::SharedLog`]: every node appends its publishes to one
//! Redis stream and follows that stream to deliver every event, so all nodes deliver the same
//! events in the same order, and a client may resume on any node with any event id.
//!
//! # Keys
//!
//! The URL's `stream` parameter (default `herald`) names the stream; the other keys derive from
//! it:
//!
//! - `NAME`: the stream. Each entry has the fields `e` (the event, laid out by
//!   [`crate::codec`]) and `i` (its id). An entry without them, or whose `e` does not decode, is
//!   not Herald's: every read skips it (with a warning), and retention counts it as an entry
//!   (it is in `XLEN`) of no size, and removes it in its turn.
//! - `NAME:ids`: the id index, a sorted set of members `ID \0 MS-SEQ` (the entry id's two parts
//!   zero-padded to 20 digits), all with score 0, so that the members of one id sort by
//!   position. The first member under the prefix `ID \0` is the earliest retained entry bearing
//!   that id, also when an id is reused and its earliest entry is trimmed (the next one is then
//!   first), and trimming an entry removes exactly its own member. (A hash from each id to its
//!   first entry would forget a reused id's later entries once the first was trimmed.)
//! - `NAME:meta`: a hash; its field `bytes` is the total size of the retained events' `e`.
//!
//! # Positions
//!
//! An entry id `MS-SEQ` is the position `(MS << 22) | SEQ`, which grows with the stream (but
//! not by one). Entries whose id does not fit (`MS` ≥ 2^42, `SEQ` ≥ 2^22) are skipped like
//! foreign ones. The stream's last generated id survives trimming, so [`SharedLog::last_position`]
//! stays the last appended one even when retention removed every entry.
//!
//! # Appending and retention
//!
//! One append is one Lua script (sent with EVALSHA, loaded when the server lacks it): it adds
//! every event (`XADD NAME * e … i …`) and its index member, then removes the oldest entries
//! while they are past the retention: more than `max_events`, more than `max_bytes`, or older
//! than `max_age` (measured from the entry id's milliseconds, the server's clock at the append,
//! to the appending hub's `now_ms`: unlike the publishers' clocks, entry ids never go back, so
//! the expired entries are exactly the oldest ones). A script runs alone on the server, and
//! checks its keys' types before its first write, so an append is all of its events or none.
//! The script is marked (`#!lua`) so that a server low on memory refuses it before it starts:
//! it needs Redis 7 or later.
//!
//! # Durability
//!
//! An append returns once Redis answered the script, so a publish that got its answer is as
//! durable as the server's persistence makes it, which the hub cannot enforce: with
//! `appendonly yes` and `appendfsync always`, nothing acknowledged is lost in a crash; with
//! `appendfsync everysec` (Redis's default), up to the last second is; without the append-only
//! file, everything since the last snapshot. [`RedisLog::connect`] warns when the server keeps
//! no append-only file. When a call times out, the append may still have been made: its
//! publisher is told it failed, and the followers deliver its events all the same.
//!
//! # Connections
//!
//! The hub calls the log from several threads at once (its writer, its follower, whose blocking
//! read holds a connection for up to a second, and catch-up reads), so the log keeps a few idle
//! connections: each call takes one (or opens one), and puts it back after a successful call. A
//! connection that failed is dropped, along with the idle ones when the failure was the
//! connection's (the server is likely gone, or restarted), so the next call connects again.
//! Reads that failed on a reused connection are retried once on a new one. Every connection has
//! read and write timeouts, so no call hangs when the server stops answering.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::{Event, Footprint, Retention, SharedLog, StoreError};
use parking_lot::Mutex;
use redis::{Connection, RedisError, Value};

use crate::codec;

/// The URL's form, for the messages about a wrong one.
const FORM: &str = "redis://[:PASSWORD@]HOST:PORT[/DB][?stream=NAME]";
/// The stream's name when the URL gives none.
const DEFAULT_STREAM: &str = "herald";
/// How long opening a connection (and its handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take to be sent, or answered (past a blocking read's own wait).
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most idle connections kept.
const IDLE_CONNECTIONS: usize = 8;
/// Bits of a position holding the entry id's sequence number.
const SEQ_BITS: u32 = 22;
/// Entry ids' milliseconds must be below this to make a position.
const MS_LIMIT: u64 = 1 << (64 - SEQ_BITS);
/// Most index members looked at for one id (more than one only when entries were removed
/// behind Herald's back).
const ID_CANDIDATES: usize = 8;

/// Appends, indexes and trims, atomically. KEYS: the stream, the index, the meta hash. ARGV:
/// `now_ms`, `max_events`, `max_bytes`, `max_age` in ms (each -1 when unlimited), then each
/// event's id and encoding. Returns the retained count, their bytes, and the new entries' ids.
const APPEND: &str = r"#!lua
local stream, ids, meta = KEYS[1], KEYS[2], KEYS[3]
local expected = { [stream] = 'stream', [ids] = 'zset', [meta] = 'hash' }
for key, kind in pairs(expected) do
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= kind then
    return redis.error_reply('the key ' .. key .. ' holds a ' .. found .. ', not a ' .. kind)
  end
end
local now = tonumber(ARGV[1])
local max_events = tonumber(ARGV[2])
local max_bytes = tonumber(ARGV[3])
local max_age = tonumber(ARGV[4])

local function pad(digits)
  return string.rep('0', 20 - #digits) .. digits
end
local function split(entry)
  local dash = string.find(entry, '-', 1, true)
  return string.sub(entry, 1, dash - 1), string.sub(entry, dash + 1)
end
local function member(id, entry)
  local ms, seq = split(entry)
  return id .. '\0' .. pad(ms) .. '-' .. pad(seq)
end

local bytes = tonumber(redis.call('HGET', meta, 'bytes')) or 0
local added = {}
for i = 5, #ARGV, 2 do
  local id, encoded = ARGV[i], ARGV[i + 1]
  local entry = redis.call('XADD', stream, '*', 'e', encoded, 'i', id)
  redis.call('ZADD', ids, 0, member(id, entry))
  bytes = bytes + #encoded
  added[#added + 1] = entry
end

local count = redis.call('XLEN', stream)
local function over()
  return (max_events >= 0 and count > max_events) or (max_bytes >= 0 and bytes > max_bytes)
end
local last_removed = nil
local start = '-'
local done = false
local want = 1
while not done and count > 0 do
  if max_events >= 0 and count - max_events > want then
    want = count - max_events
  end
  local page = redis.call('XRANGE', stream, start, '+', 'COUNT', math.min(want, 256))
  -- Past the first page (which often is the one entry to look at), read more at a time.
  want = math.max(want, 64)
  if #page == 0 then
    break
  end
  for _, item in ipairs(page) do
    local entry, fields = item[1], item[2]
    local expired = max_age >= 0 and now - tonumber((split(entry))) > max_age
    if not expired and not over() then
      done = true
      break
    end
    local id, encoded = nil, nil
    for j = 1, #fields, 2 do
      if fields[j] == 'i' then
        id = fields[j + 1]
      elseif fields[j] == 'e' then
        encoded = fields[j + 1]
      end
    end
    -- Only entries this script added have an index member: only theirs are counted in bytes.
    if id and redis.call('ZREM', ids, member(id, entry)) == 1 and encoded then
      bytes = bytes - #encoded
    end
    count = count - 1
    last_removed = entry
  end
  if last_removed then
    start = '(' .. last_removed
  end
end
if last_removed then
  local ms, seq = split(last_removed)
  redis.call('XTRIM', stream, 'MINID', ms .. '-' .. string.format('%.0f', tonumber(seq) + 1))
end
if bytes < 0 or count == 0 then
  bytes = 0
end
redis.call('HSET', meta, 'bytes', bytes)
return { count, bytes, added }
";

/// A [`SharedLog`] in a Redis stream (see the module's documentation).
pub struct RedisLog {
    client: redis::Client,
    /// The URL without its password: what errors and logs name.
    shown: String,
    stream: String,
    ids: String,
    meta: String,
    append: redis::Script,
    idle: Mutex<Vec<Connection>>,
    /// Retained events and bytes, as the last append (or the connect) found them.
    footprint: Mutex<Footprint>,
    /// A read after this position found only entries that are not Herald's up to this entry
    /// id: the next read after the same position starts there, instead of reading (and
    /// warning about) them again.
    skipped: Mutex<Option<(u64, String)>>,
}

impl std::fmt::Debug for RedisLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLog")
            .field("url", &self.shown)
            .field("stream", &self.stream)
            .field("footprint", &*self.footprint.lock())
            .finish()
    }
}

/// What a URL says: where to connect, and which stream.
#[derive(Debug)]
struct Target {
    /// The URL to connect to (without Herald's parameters).
    connect: String,
    /// The URL as given, without its password.
    shown: String,
    stream: String,
}

fn bad_url(detail: String) -> StoreError {
    StoreError::Io { operation: "reading the Redis URL", source: format!("{detail}; the form is {FORM}").into() }
}

/// `url` with whatever stands between `://` and the last `@` hidden: for a URL that does not
/// parse, whose password cannot be told apart.
fn redacted(url: &str) -> String {
    let start = url.find("://").map_or(0, |scheme| scheme + 3);
    match url.rfind('@') {
        Some(at) if at >= start => format!("{}***{}", &url[..start], &url[at..]),
        _ => url.to_owned(),
    }
}

fn parse(raw: &str) -> Result<Target, StoreError> {
    let url = url::Url::parse(raw).map_err(|e| bad_url(format!("`{}` is not a URL ({e})", redacted(raw))))?;
    let mut shown = url.clone();
    // Only fails for URLs that cannot have a password, which have none to hide.
    let _ = shown.set_password(None);
    let shown = shown.to_string();
    match url.scheme() {
        "redis" => {}
        "rediss" => {
            return Err(bad_url(format!(
                "{shown}: TLS (rediss://) is not supported; use redis://, on a trusted network or through a TLS tunnel"
            )))
        }
        other => return Err(bad_url(format!("{shown}: the scheme is `{other}`, not `redis`"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad_url(format!("{shown}: no host")));
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && (db.parse::<u32>().is_err() || !db.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad_url(format!("{shown}: the path `{}` is not a database number", url.path())));
    }
    if url.fragment().is_some() {
        return Err(bad_url(format!("{shown}: a fragment (#…) means nothing here")));
    }
    let mut stream = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "stream" if stream.is_some() => return Err(bad_url(format!("{shown}: `stream` is given twice"))),
            "stream" if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err(bad_url(format!("{shown}: the stream name `{value}` is empty or has spaces")))
            }
            "stream" => stream = Some(value.into_owned()),
            other => return Err(bad_url(format!("{shown}: unknown parameter `{other}`"))),
        }
    }
    let mut connect = url.clone();
    connect.set_query(None);
    Ok(Target { connect: connect.to_string(), shown, stream: stream.unwrap_or_else(|| DEFAULT_STREAM.to_owned()) })
}

/// Whether `e` says the connection (or the server behind it) failed, rather than a command.
fn connection_failed(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

/// The position of entry id `MS-SEQ`, when it fits.
fn position(entry: &str) -> Option<u64> {
    let (ms, seq) = entry.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    (ms < MS_LIMIT && seq < 1 << SEQ_BITS).then_some((ms << SEQ_BITS) | seq)
}

/// The entry id of `position`.
fn entry_id(position: u64) -> String {
    format!("{}-{}", position >> SEQ_BITS, position & ((1 << SEQ_BITS) - 1))
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// One stream entry: its id and its fields, as `[name, value, …]`.
struct Entry {
    id: String,
    fields: Vec<Value>,
}

impl Entry {
    fn field(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields.chunks_exact(2).find(|pair| bytes(&pair[0]) == Some(name)).and_then(|pair| bytes(&pair[1]))
    }

    /// The event it holds; `None` (with a warning) when it is not Herald's.
    fn event(&self, stream: &str) -> Option<Arc<Event>> {
        let Some(seq) = position(&self.id) else {
            tracing::warn!(stream, entry = %self.id, "skipping a stream entry whose id is beyond Herald's positions");
            return None;
        };
        match self.field(b"e").and_then(|encoded| codec::decode(seq, encoded)) {
            Some(event) => Some(Arc::new(event)),
            None => {
                tracing::warn!(stream, entry = %self.id, "skipping a stream entry that is not a Herald event");
                None
            }
        }
    }
}

/// The entries of an `XRANGE`-like reply.
fn entries(reply: Value) -> Result<Vec<Entry>, String> {
    let Value::Array(items) = reply else {
        return Err(format!("expected stream entries, got {reply:?}"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Array(mut pair) if pair.len() == 2 => {
                let fields = match pair.pop() {
                    Some(Value::Array(fields)) => fields,
                    _ => Vec::new(),
                };
                let id = pair.first().and_then(text).ok_or("a stream entry without an id")?.to_owned();
                Ok(Entry { id, fields })
            }
            other => Err(format!("expected a stream entry, got {other:?}")),
        })
        .collect()
}

/// The entries of an `XREAD` reply for one stream (none when it timed out).
fn read_entries(reply: Value) -> Result<Vec<Entry>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop().ok_or_else(String::new),
                other => Err(format!("expected a stream, got {other:?}")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(format!("expected streams, got {other:?}")),
    };
    let mut out = Vec::new();
    for stream in streams {
        out.extend(entries(stream)?);
    }
    Ok(out)
}

/// A reply that is not what the command answers.
fn unexpected(detail: String) -> RedisError {
    RedisError::from((redis::ErrorKind::Parse, "unexpected reply", detail))
}

/// The id and position of an index member `ID \0 MS-SEQ` of `id`.
fn indexed(member: &[u8], id: &str) -> Option<(String, u64)> {
    let rest = member.strip_prefix(id.as_bytes())?.strip_prefix(b"\0")?;
    let (ms, seq) = std::str::from_utf8(rest).ok()?.split_once('-')?;
    let entry = format!("{}-{}", ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?);
    let position = position(&entry)?;
    Some((entry, position))
}

/// `max` as the script's argument: -1 when unlimited.
fn limit(max: Option<u64>) -> i64 {
    max.map_or(-1, |max| i64::try_from(max).unwrap_or(i64::MAX))
}

impl RedisLog {
    /// Connects to the server at `url`, of the form `redis://[:PASSWORD@]HOST:PORT[/DB][?stream=NAME]`
    /// (the stream defaults to `herald`), and checks it answers. Fails with
    /// [`StoreError::Unreachable`] when it does not, and with a message saying what is wrong when
    /// the URL is not of that form or the stream's keys hold something else.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let target = parse(url)?;
        let client =
            redis::Client::open(target.connect.as_str()).map_err(|e| bad_url(format!("{}: {e}", target.shown)))?;
        let log = Self {
            client,
            shown: target.shown,
            ids: format!("{}:ids", target.stream),
            meta: format!("{}:meta", target.stream),
            stream: target.stream,
            append: redis::Script::new(APPEND),
            idle: Mutex::new(Vec::new()),
            footprint: Mutex::new(Footprint { events: 0, bytes: 0 }),
            skipped: Mutex::new(None),
        };
        let mut con = log.open()?;
        redis::cmd("PING").query::<String>(&mut con).map_err(|e| log.unreachable(e))?;
        log.check_version(&mut con)?;
        log.check_persistence(&mut con);
        let footprint = log.check_keys(&mut con)?;
        *log.footprint.lock() = footprint;
        log.give_back(con);
        tracing::info!(log = %log.describe(), events = footprint.events, bytes = footprint.bytes, "shared log in Redis connected");
        Ok(log)
    }

    /// The server (its URL without password) and the stream, for logs.
    pub fn describe(&self) -> String {
        format!("{} (stream {})", self.shown, self.stream)
    }

    /// Refuses a server older than Redis 7, which cannot run the append script (a server whose
    /// version cannot be read is tried as it is).
    fn check_version(&self, con: &mut Connection) -> Result<(), StoreError> {
        let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(con) else {
            return Ok(());
        };
        let version = info.lines().find_map(|line| line.strip_prefix("redis_version:")).map(str::trim);
        let major = version.and_then(|v| v.split('.').next()).and_then(|major| major.parse::<u32>().ok());
        match (version, major) {
            (Some(version), Some(major)) if major < 7 => Err(StoreError::Io {
                operation: "checking the Redis server",
                source: format!("{} runs Redis {version}; Herald's shared log needs Redis 7 or later", self.shown)
                    .into(),
            }),
            _ => Ok(()),
        }
    }

    /// Warns when the server keeps no append-only file (a server that refuses `CONFIG` is
    /// trusted as it is).
    fn check_persistence(&self, con: &mut Connection) {
        let setting = |con: &mut Connection, name: &str| {
            redis::cmd("CONFIG").arg("GET").arg(name).query::<Vec<String>>(con).ok().and_then(|v| v.get(1).cloned())
        };
        match setting(con, "appendonly").as_deref() {
            Some("no") => tracing::warn!(
                log = %self.describe(),
                "the Redis server keeps no append-only file (appendonly no): a crash loses every event since its last \
                 snapshot, acknowledged publishes included; set `appendonly yes` and `appendfsync always` for no loss"
            ),
            Some(_) => {
                if let Some(fsync) = setting(con, "appendfsync").filter(|fsync| fsync != "always") {
                    tracing::info!(
                        log = %self.describe(),
                        "the Redis server syncs its append-only file with appendfsync {fsync}: a crash may lose the \
                         last second of acknowledged publishes (`appendfsync always` loses none)"
                    );
                }
            }
            None => tracing::debug!("cannot read the Redis server's persistence settings (CONFIG is refused)"),
        }
    }

    /// Checks that the stream's keys hold what Herald keeps there, and reads the footprint.
    fn check_keys(&self, con: &mut Connection) -> Result<Footprint, StoreError> {
        let failed = |e| self.failure("reading the stream's keys", e);
        for (key, kind) in [(&self.stream, "stream"), (&self.ids, "zset"), (&self.meta, "hash")] {
            let found: String = redis::cmd("TYPE").arg(key).query(con).map_err(failed)?;
            if found != "none" && found != kind {
                return Err(StoreError::Io {
                    operation: "checking the stream's keys",
                    source: format!("the key {key} on {} holds a {found}, not a {kind}", self.shown).into(),
                });
            }
        }
        let events: u64 = redis::cmd("XLEN").arg(&self.stream).query(con).map_err(failed)?;
        let bytes: Option<u64> = redis::cmd("HGET").arg(&self.meta).arg("bytes").query(con).unwrap_or(None);
        Ok(Footprint { events, bytes: bytes.unwrap_or(0) })
    }

    /// Opens a connection, with its timeouts.
    fn open(&self) -> Result<Connection, StoreError> {
        let con = self.client.get_connection_with_timeout(CONNECT_TIMEOUT).map_err(|e| self.unreachable(e))?;
        con.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| self.unreachable(e))?;
        con.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| self.unreachable(e))?;
        Ok(con)
    }

    fn give_back(&self, con: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(con);
        }
    }

    fn unreachable(&self, e: RedisError) -> StoreError {
        StoreError::Unreachable { engine: self.shown.clone(), source: Box::new(e) }
    }

    fn failure(&self, operation: &'static str, e: RedisError) -> StoreError {
        if connection_failed(&e) {
            self.unreachable(e)
        } else {
            StoreError::Io { operation, source: Box::new(e) }
        }
    }

    /// Runs `call` on a connection. A connection that failed is dropped (with the idle ones,
    /// when the connection itself failed); a `retry`able call that failed so on a reused
    /// connection is made once more on a new one.
    fn with_connection<T>(
        &self,
        operation: &'static str,
        retry: bool,
        mut call: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let reused = self.idle.lock().pop();
        let was_reused = reused.is_some();
        let mut con = match reused {
            Some(con) => con,
            None => self.open()?,
        };
        match call(&mut con) {
            Ok(value) => {
                self.give_back(con);
                Ok(value)
            }
            Err(e) => {
                drop(con);
                if !connection_failed(&e) {
                    return Err(self.failure(operation, e));
                }
                self.idle.lock().clear();
                if !(retry && was_reused) {
                    return Err(self.failure(operation, e));
                }
                tracing::debug!(log = %self.describe(), "{operation} failed on a reused connection ({e}); retrying");
                let mut con = self.open()?;
                let value = call(&mut con).map_err(|e| self.failure(operation, e))?;
                self.give_back(con);
                Ok(value)
            }
        }
    }

    /// Up to `limit` entries after entry id `cursor`, waiting up to `wait` for the first.
    fn entries_after(&self, cursor: &str, limit: usize, wait: Duration) -> Result<Vec<Entry>, StoreError> {
        let block_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        if block_ms == 0 {
            return self.with_connection("reading the stream", true, |con| {
                let reply = redis::cmd("XRANGE")
                    .arg(&self.stream)
                    .arg(format!("({cursor}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit)
                    .query(con)?;
                entries(reply).map_err(unexpected)
            });
        }
        self.with_connection("waiting for new entries in the stream", true, |con| {
            con.set_read_timeout(Some(wait.saturating_add(IO_TIMEOUT)))?;
            let reply = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(limit)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(cursor)
                .query(con)?;
            con.set_read_timeout(Some(IO_TIMEOUT))?;
            read_entries(reply).map_err(unexpected)
        })
    }
}

impl SharedLog for RedisLog {
    fn append(&self, events: &[Event], retention: &Retention, now_ms: u64) -> Result<Vec<u64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let max_age = retention.max_age.map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(&self.stream)
            .key(&self.ids)
            .key(&self.meta)
            .arg(now_ms)
            .arg(limit(retention.max_events))
            .arg(limit(retention.max_bytes))
            .arg(limit(max_age));
        for event in events {
            invocation.arg(&*event.id).arg(codec::encode(event));
        }
        let (events_left, bytes, added): (u64, u64, Vec<String>) =
            self.with_connection("appending events", false, |con| invocation.invoke(con))?;
        *self.footprint.lock() = Footprint { events: events_left, bytes };
        let positions: Vec<u64> = added.iter().filter_map(|entry| position(entry)).collect();
        if positions.len() != events.len() {
            return Err(StoreError::Io {
                operation: "appending events",
                source: format!(
                    "the stream {} gave entry ids beyond Herald's positions ({:?}); an entry with an explicit \
                     id far in the future was added to it",
                    self.stream,
                    added.last()
                )
                .into(),
            });
        }
        Ok(positions)
    }

    fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Vec<Arc<Event>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        let hint = self.skipped.lock().as_ref().filter(|(from, _)| *from == after).map(|(_, to)| to.clone());
        let mut cursor = hint.unwrap_or_else(|| entry_id(after));
        loop {
            let page = self.entries_after(&cursor, limit, deadline.saturating_duration_since(Instant::now()))?;
            let Some(last) = page.last().map(|entry| entry.id.clone()) else {
                return Ok(Vec::new());
            };
            let events: Vec<Arc<Event>> = page.iter().filter_map(|entry| entry.event(&self.stream)).collect();
            let delivered_up_to = events.last().map_or(after, |event| event.seq);
            if position(&last) != Some(delivered_up_to) {
                // Entries that are not Herald's end the page: the next read goes on past them.
                *self.skipped.lock() = Some((delivered_up_to, last.clone()));
            }
            if !events.is_empty() {
                return Ok(events);
            }
            cursor = last;
        }
    }

    fn read_last(&self, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut out = Vec::new();
        let mut end = "+".to_owned();
        while out.len() < limit {
            let want = limit - out.len();
            let page = self.with_connection("reading the stream", true, |con| {
                let reply =
                    redis::cmd("XREVRANGE").arg(&self.stream).arg(&end).arg("-").arg("COUNT").arg(want).query(con)?;
                entries(reply).map_err(unexpected)
            })?;
            let Some(oldest) = page.last() else {
                break;
            };
            end = format!("({}", oldest.id);
            let full = page.len() == want;
            out.extend(page.iter().filter_map(|entry| entry.event(&self.stream)));
            if !full {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }

    fn last_position(&self) -> Result<u64, StoreError> {
        let last = self.with_connection("reading the stream's last id", true, |con| {
            let kind: String = redis::cmd("TYPE").arg(&self.stream).query(con)?;
            if kind == "none" {
                return Ok(None);
            }
            let info: Vec<Value> = redis::cmd("XINFO").arg("STREAM").arg(&self.stream).query(con)?;
            let last = info
                .chunks_exact(2)
                .find(|pair| text(&pair[0]) == Some("last-generated-id"))
                .and_then(|pair| text(&pair[1]))
                .ok_or_else(|| unexpected("XINFO STREAM gave no last-generated-id".to_owned()))?;
            Ok(Some(last.to_owned()))
        })?;
        let Some(last) = last else {
            return Ok(0);
        };
        position(&last).ok_or_else(|| StoreError::Io {
            operation: "reading the stream's last id",
            source: format!(
                "the stream {} was last given the entry id {last}, beyond Herald's positions (milliseconds below \
                 2^42): an entry with an explicit id far in the future was added to it",
                self.stream
            )
            .into(),
        })
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        if id.contains('\0') {
            return Ok(None);
        }
        let prefix = |first: u8, last: u8| [&[first], id.as_bytes(), &[last]].concat();
        self.with_connection("looking up an id", true, |con| {
            let members: Vec<Vec<u8>> = redis::cmd("ZRANGEBYLEX")
                .arg(&self.ids)
                .arg(prefix(b'[', 0))
                .arg(prefix(b'(', 1))
                .arg("LIMIT")
                .arg(0)
                .arg(ID_CANDIDATES)
                .query(con)?;
            for (entry, position) in members.iter().filter_map(|member| indexed(member, id)) {
                let found = redis::cmd("XRANGE").arg(&self.stream).arg(&entry).arg(&entry).query(con)?;
                if !entries(found).map_err(unexpected)?.is_empty() {
                    return Ok(Some(position));
                }
            }
            Ok(None)
        })
    }

    fn footprint(&self) -> Option<Footprint> {
        Some(*self.footprint.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_entry_ids_convert_both_ways() {
        assert_eq!(position("0-0"), Some(0));
        assert_eq!(position("1-0"), Some(1 << 22));
        assert_eq!(position("1700000000123-7"), Some((1_700_000_000_123 << 22) | 7));
        for p in [0, 1, 5 << 22, (1_700_000_000_123 << 22) | 4_194_303, u64::MAX] {
            assert_eq!(position(&entry_id(p)), Some(p));
        }
        assert_eq!(position(&format!("{MS_LIMIT}-0")), None);
        assert_eq!(position("5-4194304"), None);
        for bad in ["", "5", "x-1", "1-", "-1", "1-2-3"] {
            assert_eq!(position(bad), None, "{bad}");
        }
    }

    #[test]
    fn index_members_name_their_entry() {
        let member = b"a\x0000000000000000001234-00000000000000000005";
        assert_eq!(indexed(member, "a"), Some(("1234-5".to_owned(), (1234 << 22) | 5)));
        assert_eq!(indexed(member, "b"), None);
        assert_eq!(indexed(b"ab\x000001-00002", "a"), None);
    }

    #[test]
    fn urls_are_read_and_checked() {
        let target = parse("redis://127.0.0.1:6380/2?stream=events").unwrap();
        assert_eq!((target.connect.as_str(), target.stream.as_str()), ("redis://127.0.0.1:6380/2", "events"));
        let target = parse("redis://:secret@localhost:6379").unwrap();
        assert_eq!(target.stream, "herald");
        assert!(!target.shown.contains("secret"), "{}", target.shown);
        assert!(target.connect.contains("secret"));
        for (url, says) in [
            ("localhost:6379", "scheme"),
            ("redis//localhost", "not a URL"),
            ("http://localhost:6379", "scheme"),
            ("rediss://localhost:6379", "TLS"),
            ("redis://localhost:6379/x", "database number"),
            ("redis://localhost:6379?db=1", "unknown parameter `db`"),
            ("redis://localhost:6379?stream=", "stream name"),
            ("redis://localhost:6379?stream=a&stream=b", "twice"),
            ("redis://localhost:6379#x", "fragment"),
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(FORM), "{url}: {e}");
        }
        let e = parse("redis//:hunter2@x").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
