// The JavaScript client (clients/js/herald.js, served by the hub at /herald.js) in headless
// Chromium, through a relay whose connections the tests cut: each transport forced in turn
// receives every event in order, once, across a dropped connection; with WebSocket refused or
// left hanging by the relay, or an event stream answered with an HTML page, the client falls back
// by itself; the <event-source> element dispatches DOM events.
//
// Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH). HERALD_CLIENT_JS=<file> serves that
// file as /herald.js instead of the hub's copy, to try changes to the client without rebuilding.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub, startRelay, waitFor } from './lib/hub.mjs';

const TEST_TIMEOUT = 30000;

let hub;
let relay;
let context;
let profile;
const cleanups = [];

before(async () => {
  hub = await startHub();
  cleanups.push(() => hub.stop());
  relay = await startRelay(hub.url);
  cleanups.push(() => relay.close());
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  cleanups.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  context = await launchChromium(profile);
  cleanups.push(() => context.close());
  if (process.env.HERALD_CLIENT_JS) {
    const file = path.resolve(process.env.HERALD_CLIENT_JS);
    await context.route('**/herald.js', (route) =>
      route.fulfill({ contentType: 'text/javascript; charset=utf-8', body: fs.readFileSync(file, 'utf8') }),
    );
  }
});

after(async () => {
  await runCleanups(cleanups);
});

/** A new page on `origin` (the relay), with the page's errors collected. */
async function openPage(origin = relay.url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  // Any same-origin document will do: the tests import the client into it.
  await page.goto(new URL('/healthz', origin).href);
  return { page, errors };
}

/**
 * Subscribes in the page with a Herald EventSource; everything it dispatches is logged in
 * `window.log`: events as [type, data, lastEventId], the transport at each `open`, errors.
 */
async function subscribe(page, { topic, transports, types = [], openTimeout }) {
  await page.evaluate(
    async ({ topic, transports, types, openTimeout }) => {
      const Herald = await import('/herald.js');
      const options = { match: topic };
      if (transports) options.transports = transports;
      if (openTimeout) options.openTimeout = openTimeout;
      const source = new Herald.EventSource(new URL('/.well-known/mercure', location.href), options);
      const log = { events: [], opened: [], errors: 0 };
      const record = (e) => log.events.push([e.type, e.data, e.lastEventId]);
      source.onmessage = record;
      for (const type of types) source.addEventListener(type, record);
      source.onopen = () => log.opened.push(source.transport);
      source.onerror = () => (log.errors += 1);
      window.log = log;
      window.source = source;
    },
    { topic, transports, types, openTimeout },
  );
}

/** Resolves when `predicate(window.log)` is truthy in the page (polling; no fixed sleeps). */
async function pageWaits(page, predicate, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const log = await page.evaluate(() => window.log);
    if (predicate(log)) return log;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...log, events: log.events.length })}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The i-th test event: multi-line data, unicode beyond the BMP, JSON, custom types. */
function sample(i, topic) {
  const kinds = [
    { data: `line ${i}\nsecond line\n` },
    { data: `ünïcødé ✓ 🚀 𝄞 👩‍💻 ${i}`, type: 'unicode' },
    { data: JSON.stringify({ n: i, text: 'a "quoted" \\ value' }), type: 'price' },
    { data: `  leading spaces, trailing: ${i}  ` },
    { data: `a\nb\n\nafter a blank line ${i}`, type: 'multi-line' },
  ];
  return { topic, ...kinds[i % kinds.length] };
}
const TYPES = ['unicode', 'price', 'multi-line', 'end'];

/** How long the relay refuses connections after a cut: longer than the client's retry delay. */
const OUTAGE_MS = 1500;

/**
 * Publishes `count` events to `topic`, cutting every relayed connection once the page has
 * received `cutAfter` of them (and refusing new ones for a while, so that the client notices
 * whatever the transport), then an `end` event; returns what the page must have received and
 * the request heads the relay saw after the cut.
 */
async function publishWithCut(page, topic, { count, cutAfter }) {
  const expected = [];
  const publish = async (fields) => {
    const id = await hub.publish(fields);
    expected.push([fields.type ?? 'message', fields.data, id]);
  };
  for (let i = 0; i < count / 2; i++) await publish(sample(i, topic));
  await pageWaits(page, (log) => log.events.length >= cutAfter, `${cutAfter} events before the cut`);
  const seen = relay.requests.length;
  relay.cut({ refuseFor: OUTAGE_MS });
  for (let i = count / 2; i < count; i++) await publish(sample(i, topic));
  await publish({ topic, type: 'end', data: 'end' });
  return { expected, after: () => relay.requests.slice(seen) };
}

for (const transport of ['websocket', 'sse', 'ndjson', 'long-poll', 'poll']) {
  test(`${transport}: 200 events in order, once each, across a cut connection`, { timeout: TEST_TIMEOUT }, async () => {
    const { page, errors } = await openPage();
    try {
      const topic = `/browser/${transport}`;
      await subscribe(page, { topic, transports: [transport], types: TYPES });
      await pageWaits(page, (log) => log.opened.length >= 1, 'open');
      const { expected, after } = await publishWithCut(page, topic, { count: 200, cutAfter: 40 });
      const log = await pageWaits(page, (log) => log.events.some(([type]) => type === 'end'), 'the end event');
      assert.equal(log.events.length, expected.length, 'as many events as published');
      assert.deepEqual(log.events, expected);
      assert.ok(log.opened.length >= 2, `reopened after the cut (opened ${log.opened.length} times)`);
      assert.ok(log.errors >= 1, 'an error event for the lost connection');
      if (transport !== 'websocket') {
        // The id is in the URL (over WebSocket it is in the subscribe message).
        const ids = new Set(expected.map(([, , id]) => encodeURIComponent(id)));
        const resumed = after().filter((head) => /[?&]last_event_id=([^&\s]+)/.test(head));
        assert.ok(resumed.length >= 1, 'requests after the cut carry last_event_id');
        for (const head of resumed) assert.ok(ids.has(/[?&]last_event_id=([^&\s]+)/.exec(head)[1]), head.split('\r\n')[0]);
      }
      assert.deepEqual(new Set(log.opened), new Set([transport]), 'only the forced transport was used');
      assert.equal(await page.evaluate(() => window.source.lastEventId), expected.at(-1)[2]);
      assert.equal(await page.evaluate(() => window.source.readyState), 1);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
}

test('with WebSocket blocked, the default transports fall back by themselves', { timeout: TEST_TIMEOUT }, async () => {
  const blocking = await startRelay(hub.url, { blockWebSocket: true });
  const { page, errors } = await openPage(blocking.url);
  try {
    const topic = '/browser/fallback';
    await subscribe(page, { topic, types: TYPES });
    const opened = await pageWaits(page, (log) => log.opened.length >= 1, 'open');
    assert.ok(blocking.blocked >= 1, 'the client tried WebSocket first');
    assert.equal(opened.opened[0], 'sse', 'the next transport, Server-Sent Events');
    const expected = [];
    for (let i = 0; i < 60; i++) {
      const fields = sample(i, topic);
      expected.push([fields.type ?? 'message', fields.data, await hub.publish(fields)]);
      if (i === 30) {
        await pageWaits(page, (log) => log.events.length >= 20, '20 events before the cut');
        blocking.cut();
      }
    }
    expected.push(['end', 'end', await hub.publish({ topic, type: 'end', data: 'end' })]);
    const log = await pageWaits(page, (log) => log.events.some(([type]) => type === 'end'), 'the end event');
    assert.deepEqual(log.events, expected);
    assert.ok(log.opened.length >= 2, 'reopened after the cut');
    assert.ok(log.opened.every((t) => t === 'sse'), `stayed on sse: ${log.opened}`);
    assert.equal(log.errors, 1, 'one error event, for the cut');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    blocking.close();
  }
});

test('a WebSocket upgrade left unanswered gives way to the next transport after openTimeout', { timeout: TEST_TIMEOUT }, async () => {
  const stalling = await startRelay(hub.url, { stallWebSocket: true });
  const { page, errors } = await openPage(stalling.url);
  try {
    const topic = '/browser/stalled';
    await subscribe(page, { topic, types: TYPES, openTimeout: 1500 });
    const { opened } = await pageWaits(page, (log) => log.opened.length >= 1, 'open');
    assert.deepEqual(opened, ['sse']);
    assert.equal(stalling.blocked, 1, 'one WebSocket attempt, left hanging');
    const id = await hub.publish({ topic, data: 'through' });
    const log = await pageWaits(page, (log) => log.events.length >= 1, 'the event');
    assert.deepEqual(log.events, [['message', 'through', id]]);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    stalling.close();
  }
});

test('an event stream answered with an error page falls back to the next transport', { timeout: TEST_TIMEOUT }, async () => {
  const { page, errors } = await openPage();
  try {
    // As a proxy that does not let event streams through: the browser's EventSource gets an
    // HTML page; WebSocket is not in the list, so the next one is NDJSON streaming.
    let refused = 0;
    await page.route('**/.well-known/mercure?*', (route) => {
      if (route.request().headers().accept !== 'text/event-stream') return route.continue();
      refused += 1;
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>Blocked by policy</h1>' });
    });
    const topic = '/browser/not-a-stream';
    await subscribe(page, { topic, transports: ['sse', 'ndjson', 'long-poll'], types: TYPES });
    const { opened } = await pageWaits(page, (log) => log.opened.length >= 1, 'open');
    assert.deepEqual(opened, ['ndjson']);
    assert.ok(refused >= 1, 'the client tried SSE first');
    const expected = [];
    for (let i = 0; i < 20; i++) {
      const fields = sample(i, topic);
      expected.push([fields.type ?? 'message', fields.data, await hub.publish(fields)]);
    }
    const log = await pageWaits(page, (log) => log.events.length >= expected.length, 'the events');
    assert.deepEqual(log.events, expected);
    assert.equal(log.errors, 0, 'no error event: one transport of the list worked');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

test('<event-source> dispatches DOM events, stops when removed and resumes when put back', { timeout: TEST_TIMEOUT }, async () => {
  const { page, errors } = await openPage();
  try {
    const topic = '/browser/element';
    await page.evaluate(async (topic) => {
      await import('/herald.js');
      const log = { events: [], opened: [], errors: 0 };
      window.log = log;
      const src = `/.well-known/mercure?match=${encodeURIComponent(topic)}`;
      const make = (name, transports) => {
        const element = document.createElement('event-source');
        element.setAttribute('src', src);
        if (transports) element.setAttribute('transports', transports);
        element.id = name;
        element.addEventListener('open', () => log.opened.push([name, element.transport]));
        element.addEventListener('error', () => (log.errors += 1));
        return element;
      };
      // One element with the default transports, one forced to SSE, which can only forward
      // the event types it knows of: `message`, the `events` attribute, and its own listeners.
      const auto = make('auto');
      const sse = make('sse', 'sse');
      sse.setAttribute('events', 'note');
      sse.addEventListener('alert', () => {});
      // Events bubble: one listener on the document sees both elements'.
      for (const type of ['message', 'note', 'alert']) {
        document.addEventListener(type, (e) => {
          if (!(e instanceof MessageEvent) || !e.target.id) return;
          log.events.push([e.target.id, e.type, e.data, e.lastEventId, e.bubbles, e.origin === location.origin]);
        });
      }
      document.body.append(auto, sse);
    }, topic);
    await pageWaits(page, (log) => log.opened.length >= 2, 'both elements open');
    const opened = Object.fromEntries((await page.evaluate(() => window.log.opened)).map(([n, t]) => [n, t]));
    assert.deepEqual(opened, { auto: 'websocket', sse: 'sse' });

    const published = [];
    for (const [type, data] of [['message', 'hello'], ['note', 'a\nnote ✓'], ['alert', '🚨 𝄞']]) {
      const fields = type === 'message' ? { topic, data } : { topic, data, type };
      published.push([type, data, await hub.publish(fields)]);
    }
    let log = await pageWaits(page, (log) => log.events.length >= 6, 'six DOM events');
    const of = (name) => log.events.filter(([n]) => n === name).map(([, ...rest]) => rest);
    const expected = published.map((p) => [...p, true, true]);
    assert.deepEqual(of('auto'), expected);
    assert.deepEqual(of('sse'), expected);

    // Removed: the element's source closes. Put back: it resumes after the last event it saw.
    const closed = await page.evaluate(() => {
      const element = document.getElementById('auto');
      window.removed = element;
      const source = element.source;
      element.remove();
      return [source.readyState, element.source, element.readyState, element.lastEventId];
    });
    assert.deepEqual(closed, [2, null, 2, published.at(-1)[2]]);
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push(['message', `missed ${i}`, await hub.publish({ topic, data: `missed ${i}` })]);
    await pageWaits(page, (log) => log.events.length >= 9, 'the sse element got them');
    await page.evaluate(() => document.body.append(window.removed));
    await pageWaits(page, (log) => log.opened.length >= 3, 'the element put back reopens');
    missed.push(['message', 'done', await hub.publish({ topic, data: 'done' })]);
    const done = (name) => (log) => log.events.some(([n, , data]) => n === name && data === 'done');
    await pageWaits(page, done('sse'), 'the sse element done');
    log = await pageWaits(page, done('auto'), 'the element put back done');
    const all = [...expected, ...missed.map((m) => [...m, true, true])];
    assert.deepEqual(of('auto'), all, 'the missed events, once each');
    assert.deepEqual(of('sse'), all);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});
