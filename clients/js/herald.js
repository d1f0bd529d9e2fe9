// Herald JavaScript client: an EventSource that picks the transport that works.
//
//   import * as Herald from '/herald.js';
//   const source = new Herald.EventSource('/.well-known/mercure', { match: '/books/1' });
//   source.onmessage = (e) => console.log(e.lastEventId, e.data);
//
// It speaks to a Herald (or Mercure) hub over WebSocket, Server-Sent Events, newline-delimited
// JSON streaming, long-polling or polling, trying them in order and falling back to the next one
// when a transport cannot be opened (blocked by a proxy, refused, unsupported). A connection that
// had worked and then drops is reopened on the same transport after `retry` milliseconds. Every
// (re)connection resumes after the last event received, so the hub replays what was missed: events
// arrive in order, each once. One ES module, no dependencies, no build step.
//
// It runs in browsers and in Node.js 20 or later, where `fetch` carries the `ndjson`, `long-poll`
// and `poll` transports; where there is no global `WebSocket` or `EventSource` (Node.js 20), the
// `WebSocket` and `EventSource` options take an implementation, e.g. from the `ws` and
// `eventsource` packages, and without one those transports are skipped.

/** The transports, in the default order of preference. */
export const TRANSPORTS = Object.freeze(['websocket', 'sse', 'ndjson', 'long-poll', 'poll']);

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/** Query parameters that select topics; they are moved out of the hub URL into the subscription. */
const MATCHER_PARAMS = ['match', 'match_exact', 'match_urlpattern', 'topic'];
/** Query parameters the client sets itself on each request. */
const CLIENT_PARAMS = ['last_event_id', 'lastEventID', 'transport', 'timeout'];

const DEFAULT_RETRY = 1000;
const DEFAULT_OPEN_TIMEOUT = 10000;
const MAX_RETRY = 30000;
/** Seconds a long-poll request asks the hub to wait for events. */
const LONG_POLL_TIMEOUT = 25;
/** The hub answers at most this many events per poll; a full batch is followed by another at once. */
const POLL_BATCH = 1000;
/** How often a transport that had worked may fail to reopen before the next one is tried. */
const REOPEN_ATTEMPTS = 2;

// Read when the module loads: a page that then sets `globalThis.EventSource` to this client's
// class still has the environment's own one carry the `sse` transport.
const NativeEventSource = globalThis.EventSource;
const NativeWebSocket = globalThis.WebSocket;

/** Lets the `<event-source>` element see every event, whatever its type. */
const TAP = Symbol('herald.tap');
/** Lets the `<event-source>` element ask for an event type over SSE. */
const WATCH = Symbol('herald.watch');

function list(value) {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function baseUrl() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

/**
 * An `EventSource` for a Herald hub, over whichever transport works.
 *
 * `new EventSource(hubUrl, { match, matchUrlPattern, topic, transports, withCredentials,
 * lastEventId, retry, openTimeout, types, WebSocket, EventSource })`
 */
export class EventSource extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSED = CLOSED;

  #url;
  #base;
  #origin;
  #matchers = { match: [], match_urlpattern: [], topic: [] };
  #transports;
  #withCredentials;
  #retry;
  #openTimeout;
  #WebSocket;
  #EventSource;

  #readyState = CONNECTING;
  #lastEventId = '';
  /** Where to resume from: the last event's id, or a poll's cursor (which may be further on). */
  #cursor = null;
  #index = 0;
  #transport = null;
  /** The connection in progress or open: { name, opened, done, stop(), watch(type) }. */
  #connection = null;
  #timer = null;
  /** Index of the transport that opened last, while it keeps working; -1 when none. */
  #working = -1;
  #reopenFailures = 0;
  #failures = 0;
  #types = new Set(['message']);
  #handlers = { open: null, message: null, error: null };
  #registered = new Set();

  /**
   * @param {string | URL} hubUrl the hub's `/.well-known/mercure` URL; its `match`, `match_exact`,
   *   `match_urlpattern`, `topic` and `last_event_id` query parameters are used too.
   * @param {object} [options]
   */
  constructor(hubUrl, options = {}) {
    super();
    const url = new URL(String(hubUrl), baseUrl());
    this.#url = url.href;
    const base = new URL(url);
    base.hash = '';
    for (const name of MATCHER_PARAMS) {
      const key = name === 'match_exact' ? 'match' : name;
      this.#matchers[key].push(...base.searchParams.getAll(name));
      base.searchParams.delete(name);
    }
    const fromUrl = base.searchParams.get('last_event_id') ?? base.searchParams.get('lastEventID');
    for (const name of CLIENT_PARAMS) base.searchParams.delete(name);
    this.#base = base;
    this.#origin = base.origin;

    this.#matchers.match.push(...list(options.match));
    this.#matchers.match_urlpattern.push(...list(options.matchUrlPattern));
    this.#matchers.topic.push(...list(options.topic));

    const transports = options.transports === undefined ? TRANSPORTS : list(options.transports);
    for (const name of transports) {
      if (!TRANSPORTS.includes(name)) {
        throw new TypeError(`unknown transport ${JSON.stringify(name)}: use ${TRANSPORTS.join(', ')}`);
      }
    }
    if (transports.length === 0) throw new TypeError('transports: give at least one transport');
    this.#transports = Object.freeze([...transports]);
    this.#withCredentials = Boolean(options.withCredentials);
    this.#retry = positive(options.retry, DEFAULT_RETRY);
    this.#openTimeout = positive(options.openTimeout, DEFAULT_OPEN_TIMEOUT);
    for (const type of list(options.types)) this.#types.add(type);
    this.#WebSocket = implementation(options.WebSocket, NativeWebSocket, 'WebSocket');
    this.#EventSource = implementation(options.EventSource, NativeEventSource, 'EventSource');

    const resumeFrom = options.lastEventId ?? fromUrl;
    if (resumeFrom !== undefined && resumeFrom !== null && resumeFrom !== '') {
      this.#cursor = String(resumeFrom);
      this.#lastEventId = this.#cursor;
    }
    this.#transport = this.#transports[0];
    // Connect once the current script has run, so that listeners added right after the
    // constructor are known (Server-Sent Events need one listener per event type).
    this.#schedule(0);
  }

  /** The hub URL given to the constructor, resolved. */
  get url() {
    return this.#url;
  }
  /** CONNECTING (0), OPEN (1) or CLOSED (2). */
  get readyState() {
    return this.#readyState;
  }
  get withCredentials() {
    return this.#withCredentials;
  }
  /** The id of the last event received (or the id given to resume from). */
  get lastEventId() {
    return this.#lastEventId;
  }
  /** The transport in use, or being tried while CONNECTING. */
  get transport() {
    return this.#transport;
  }
  /** The transports this source tries, in order. */
  get transports() {
    return this.#transports;
  }

  get onopen() {
    return this.#handlers.open;
  }
  set onopen(handler) {
    this.#setHandler('open', handler);
  }
  get onmessage() {
    return this.#handlers.message;
  }
  set onmessage(handler) {
    this.#setHandler('message', handler);
  }
  get onerror() {
    return this.#handlers.error;
  }
  set onerror(handler) {
    this.#setHandler('error', handler);
  }

  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
    this.#watch(String(type));
  }

  /** Closes the connection for good; no event is dispatched after this. */
  close() {
    if (this.#readyState === CLOSED) return;
    this.#readyState = CLOSED;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#drop();
  }

  [WATCH](type) {
    this.#watch(String(type));
  }

  #watch(type) {
    if (type === 'open' || type === 'error' || this.#types.has(type)) return;
    this.#types.add(type);
    this.#connection?.watch?.(type);
  }

  #setHandler(type, handler) {
    this.#handlers[type] = typeof handler === 'function' ? handler : null;
    if (this.#handlers[type] && !this.#registered.has(type)) {
      this.#registered.add(type);
      // Registered once, where it was first set, as for the attributes of the native one.
      super.addEventListener(type, (event) => this.#handlers[type]?.call(this, event));
    }
  }

  #schedule(delay) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect();
    }, delay);
  }

  /** The delay before the next attempt: `retry`, growing by half with each failure in a row. */
  #backoff() {
    const delay = Math.min(this.#retry * 1.5 ** this.#failures, Math.max(MAX_RETRY, this.#retry));
    this.#failures += 1;
    return Math.round(delay * (0.9 + Math.random() * 0.2));
  }

  #connect() {
    if (this.#readyState === CLOSED) return;
    const name = this.#transports[this.#index];
    this.#transport = name;
    const connection = { name, opened: false, done: false, stop() {}, watch: null, openTimer: null };
    this.#connection = connection;
    const live = () => this.#connection === connection && !connection.done;
    const hooks = {
      opened: () => {
        if (!live() || connection.opened) return;
        connection.opened = true;
        clearTimeout(connection.openTimer);
        this.#opened();
      },
      event: (message) => {
        if (!live()) return false;
        if (!connection.opened) hooks.opened();
        this.#deliver(message);
        return live();
      },
      cursor: (cursor) => {
        if (live() && typeof cursor === 'string' && cursor !== '') this.#cursor = cursor;
      },
      failed: () => {
        if (live()) this.#failed(connection);
      },
      live,
    };
    connection.openTimer = setTimeout(() => {
      if (!connection.opened) hooks.failed();
    }, this.#openTimeout);
    try {
      Object.assign(connection, this.#open(name, hooks));
    } catch {
      // e.g. no WebSocket or EventSource in this environment (Node.js 20), or a URL it refuses
      queueMicrotask(hooks.failed);
    }
  }

  /** Opens transport `name`; returns `{ stop(), watch?(type) }`. */
  #open(name, hooks) {
    switch (name) {
      case 'websocket':
        return this.#websocket(hooks);
      case 'sse':
        return this.#sse(hooks);
      case 'ndjson':
        return this.#ndjson(hooks);
      case 'long-poll':
        return this.#polling(hooks, true);
      default:
        return this.#polling(hooks, false);
    }
  }

  #opened() {
    this.#working = this.#index;
    this.#reopenFailures = 0;
    this.#failures = 0;
    this.#readyState = OPEN;
    this.dispatchEvent(new Event('open'));
  }

  #failed(connection) {
    this.#drop();
    if (this.#readyState === CLOSED) return;
    if (connection.opened) {
      // It had worked: reopen the same transport after `retry`.
      this.#readyState = CONNECTING;
      this.dispatchEvent(new Event('error'));
      if (this.#readyState !== CLOSED) this.#schedule(this.#backoff());
      return;
    }
    if (this.#index === this.#working && this.#reopenFailures < REOPEN_ATTEMPTS) {
      // Perhaps the hub is restarting: give the transport that worked another chance.
      this.#reopenFailures += 1;
      this.#schedule(this.#backoff());
      return;
    }
    // This transport does not open: try the next one at once, and after the last one start
    // over from the first, after a delay.
    if (this.#index === this.#working) this.#working = -1;
    this.#reopenFailures = 0;
    this.#index += 1;
    if (this.#index < this.#transports.length) {
      this.#schedule(0);
      return;
    }
    this.#index = 0;
    this.#readyState = CONNECTING;
    this.dispatchEvent(new Event('error'));
    if (this.#readyState !== CLOSED) this.#schedule(this.#backoff());
  }

  #drop() {
    const connection = this.#connection;
    this.#connection = null;
    if (!connection || connection.done) return;
    connection.done = true;
    clearTimeout(connection.openTimer);
    try {
      connection.stop();
    } catch {
      // already closed
    }
  }

  /** Dispatches one event: `{ id, event, data, origin? }`. */
  #deliver(message) {
    const id = message.id === undefined || message.id === null ? '' : String(message.id);
    if (id !== '') {
      this.#lastEventId = id;
      this.#cursor = id;
    }
    const type = typeof message.event === 'string' && message.event !== '' ? message.event : 'message';
    const init = {
      data: message.data === undefined || message.data === null ? '' : String(message.data),
      lastEventId: this.#lastEventId,
      origin: message.origin ?? this.#origin,
    };
    this.dispatchEvent(new MessageEvent(type, init));
    this[TAP]?.(type, init);
  }

  /** The hub URL with the subscription's matchers, the resume cursor and `extra` parameters. */
  #subscribeUrl(extra = {}) {
    const url = new URL(this.#base);
    for (const [name, values] of Object.entries(this.#matchers)) {
      for (const value of values) url.searchParams.append(name, value);
    }
    for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
    if (this.#cursor !== null) url.searchParams.set('last_event_id', this.#cursor);
    return url;
  }

  #fetchInit(signal, accept) {
    return {
      headers: { Accept: accept },
      credentials: this.#withCredentials ? 'include' : 'same-origin',
      cache: 'no-store',
      signal,
    };
  }

  /** WebSocket: one socket, a `subscribe` message, events as JSON text frames. */
  #websocket(hooks) {
    const url = new URL(this.#base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = '';
    if (!this.#WebSocket) throw new TypeError('no WebSocket here: give one in the WebSocket option');
    const socket = new this.#WebSocket(url.href);
    const ref = 'herald-subscribe';
    socket.onopen = () => {
      const message = { type: 'subscribe', ref };
      for (const [name, values] of Object.entries(this.#matchers)) {
        if (values.length > 0) message[name] = values;
      }
      if (this.#cursor !== null) message.last_event_id = this.#cursor;
      socket.send(JSON.stringify(message));
    };
    socket.onmessage = (frame) => {
      let message;
      try {
        message = JSON.parse(frame.data);
      } catch {
        hooks.failed();
        return;
      }
      if (message.type === 'event') hooks.event(message);
      else if (message.type === 'ack' && message.ref === ref) {
        // A fresh subscription learns where it starts, so a drop before its first event loses nothing.
        if (this.#cursor === null) hooks.cursor(message.position);
        hooks.opened();
      }
      else if (message.type === 'error' && message.ref === ref) hooks.failed();
    };
    socket.onerror = hooks.failed;
    socket.onclose = hooks.failed;
    return {
      stop() {
        socket.onopen = socket.onmessage = socket.onclose = null;
        // Not null: an implementation built on Node.js's EventEmitter (the `ws` package) throws
        // the error of a socket closed while connecting when nothing listens for it.
        socket.onerror = () => {};
        socket.close();
      },
    };
  }

  /** Server-Sent Events: the browser's EventSource, re-created by this client on each error. */
  #sse(hooks) {
    if (!this.#EventSource) throw new TypeError('no EventSource here: give one in the EventSource option');
    const source = new this.#EventSource(this.#subscribeUrl().href, { withCredentials: this.#withCredentials });
    const forward = (event) => {
      hooks.event({ id: event.lastEventId, event: event.type, data: event.data, origin: event.origin });
    };
    for (const type of this.#types) source.addEventListener(type, forward);
    source.onopen = hooks.opened;
    // An error before `open` is a refusal (wrong status or content type, blocked); after it, a drop.
    source.onerror = hooks.failed;
    return {
      watch: (type) => source.addEventListener(type, forward),
      stop() {
        source.onopen = source.onerror = null;
        source.close();
      },
    };
  }

  /** Newline-delimited JSON: one streamed fetch, one JSON object per line. */
  #ndjson(hooks) {
    const controller = new AbortController();
    const run = async () => {
      const url = this.#subscribeUrl({ transport: 'ndjson' });
      const response = await fetch(url, this.#fetchInit(controller.signal, 'application/x-ndjson'));
      const type = response.headers.get('Content-Type') ?? '';
      if (!response.ok || !response.body || !/^application\/x-ndjson\b/i.test(type)) {
        throw new Error(`not an NDJSON stream (${response.status} ${type})`);
      }
      hooks.opened();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let pending = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = pending + decoder.decode(value, { stream: true });
        let start = 0;
        for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
          const line = text.slice(start, end).trim();
          start = end + 1;
          if (line === '') continue;
          const message = JSON.parse(line);
          if (message.type === 'event' && !hooks.event(message)) return;
          if (message.type === 'position' && this.#cursor === null) hooks.cursor(message.last_event_id);
        }
        pending = text.slice(start);
      }
      throw new Error('stream ended');
    };
    run().catch(hooks.failed);
    return { stop: () => controller.abort() };
  }

  /**
   * Long-polling (`long`) or polling: one JSON batch per request with the cursor to ask from next;
   * long-polls wait on the hub for events and follow each other at once, polls come every `retry`.
   */
  #polling(hooks, long) {
    const controller = new AbortController();
    let wake = null;
    const pause = (ms) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    // The hub's presence handle (with --subscriptions): sent back, so that this client stays one
    // subscriber across its polls.
    let presence = null;
    const request = async (timeout) => {
      const url = this.#subscribeUrl({ transport: long ? 'long-poll' : 'poll' });
      if (long) url.searchParams.set('timeout', String(timeout));
      if (presence !== null) url.searchParams.set('presence', presence);
      const deadline = setTimeout(() => controller.abort(), (timeout + 15) * 1000);
      try {
        const response = await fetch(url, this.#fetchInit(controller.signal, 'application/json'));
        const type = response.headers.get('Content-Type') ?? '';
        if (!response.ok || !/^application\/json\b/i.test(type)) {
          throw new Error(`not a poll answer (${response.status} ${type})`);
        }
        const body = await response.json();
        if (!Array.isArray(body?.events)) throw new Error('not a poll answer');
        if (typeof body.presence === 'string') presence = body.presence;
        return body;
      } finally {
        clearTimeout(deadline);
      }
    };
    const run = async () => {
      // The first request of a connection does not wait, so that it tells at once whether the
      // transport works.
      let timeout = 0;
      for (;;) {
        const body = await request(timeout);
        if (!hooks.live()) return;
        hooks.opened();
        for (const message of body.events) {
          if (message?.type === 'event' && !hooks.event(message)) return;
        }
        hooks.cursor(body.last_event_id);
        if (!hooks.live()) return;
        if (long) timeout = LONG_POLL_TIMEOUT;
        else if (body.events.length < POLL_BATCH) await pause(this.#retry);
        if (!hooks.live()) return;
      }
    };
    run().catch(hooks.failed);
    return {
      stop() {
        controller.abort();
        wake?.();
      },
    };
  }

}

for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSED })) {
  Object.defineProperty(EventSource.prototype, name, { value, enumerable: true });
}

/** The constructor given in option `name`, else the environment's own (undefined when it has none). */
function implementation(given, own, name) {
  if (given === undefined || given === null) return own;
  if (typeof given !== 'function') throw new TypeError(`${name}: give a constructor, such as the ${name} class`);
  return given;
}

function positive(value, fallback) {
  const number = Number(value);
  return value !== undefined && value !== null && Number.isFinite(number) && number >= 0 ? number : fallback;
}

const ElementBase = globalThis.HTMLElement ?? class {};

/**
 * `<event-source src="/.well-known/mercure?match=…" transports="websocket sse">`: subscribes while
 * it is in the document, and dispatches each event it receives on itself as a bubbling
 * `MessageEvent` of the event's type. Attributes: `src`, `transports` (space-separated),
 * `with-credentials`, `retry` (ms), `events` (space-separated event types to receive over SSE,
 * besides `message` and the types listened for on the element itself).
 */
export class EventSourceElement extends ElementBase {
  static get observedAttributes() {
    return ['src', 'transports', 'with-credentials', 'retry', 'events'];
  }

  #source = null;
  #types = new Set();
  #lastEventId = null;

  /** The Herald EventSource while connected, else null. */
  get source() {
    return this.#source;
  }
  get readyState() {
    return this.#source ? this.#source.readyState : CLOSED;
  }
  get lastEventId() {
    return this.#source ? this.#source.lastEventId : (this.#lastEventId ?? '');
  }
  get transport() {
    return this.#source ? this.#source.transport : null;
  }
  get src() {
    const src = this.getAttribute('src');
    return src === null ? '' : new URL(src, this.baseURI).href;
  }
  set src(value) {
    this.setAttribute('src', value);
  }
  get withCredentials() {
    return this.hasAttribute('with-credentials');
  }
  set withCredentials(value) {
    this.toggleAttribute('with-credentials', Boolean(value));
  }

  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
    this.#types.add(String(type));
    this.#source?.[WATCH](String(type));
  }

  connectedCallback() {
    this.#start();
  }

  disconnectedCallback() {
    this.#stop();
  }

  attributeChangedCallback(name, before, after) {
    if (before === after || !this.#source) return;
    this.#stop();
    // Another topic selection starts afresh; other changes resume where the last source stopped.
    if (name === 'src') this.#lastEventId = null;
    this.#start();
  }

  #start() {
    if (this.#source || !this.isConnected || !this.hasAttribute('src')) return;
    const options = {
      withCredentials: this.hasAttribute('with-credentials'),
      types: [...this.#types, ...(this.getAttribute('events') ?? '').split(/\s+/).filter(Boolean)],
    };
    const transports = (this.getAttribute('transports') ?? '').split(/[\s,]+/).filter(Boolean);
    if (transports.length > 0) options.transports = transports;
    if (this.hasAttribute('retry')) options.retry = this.getAttribute('retry');
    if (this.#lastEventId) options.lastEventId = this.#lastEventId;
    let source;
    try {
      source = new EventSource(this.src, options);
    } catch (error) {
      queueMicrotask(() => this.dispatchEvent(new ErrorEvent('error', { error, message: String(error) })));
      return;
    }
    this.#source = source;
    source[TAP] = (type, init) => {
      if (this.#source === source) this.dispatchEvent(new MessageEvent(type, { ...init, bubbles: true }));
    };
    source.addEventListener('open', () => {
      if (this.#source === source) this.dispatchEvent(new Event('open'));
    });
    source.addEventListener('error', () => {
      if (this.#source === source) this.dispatchEvent(new Event('error'));
    });
  }

  #stop() {
    const source = this.#source;
    if (!source) return;
    this.#source = null;
    this.#lastEventId = source.lastEventId || this.#lastEventId;
    source.close();
  }
}

if (globalThis.customElements && !globalThis.customElements.get('event-source')) {
  globalThis.customElements.define('event-source', EventSourceElement);
}
