// Active subscriptions (--subscriptions), watched from headless Chromium's EventSource: a
// subscriber over SSE (npm `eventsource`), NDJSON, the forever frame, WebSocket (npm `ws`) and
// long-polling appears in the subscriptions API and its `mercure` events, and leaves when it
// disconnects (a long-polling client once it stops polling, after --presence-window); the API's
// documents, count view, Link header and refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub, waitFor } from './lib/hub.mjs';
import { openSocket } from './lib/socket.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const KEY = 'presence-test-secret-of-at-least-32-bytes';
const token = (...args) => execFileSync(binary, ['token', '--key', KEY, ...args], { encoding: 'utf8' }).trim();
const WATCHER = token('--subscribe', '*');
const API = '/.well-known/mercure/subscriptions';

let hub;
let page;
const cleanups = [];

before(async () => {
  hub = await startHub(['--subscriptions', '--jwt-key', KEY, '--jwt-query-param', '--anonymous', '--presence-window', '1s']);
  cleanups.push(() => hub.stop());
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  cleanups.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  const context = await launchChromium(profile);
  cleanups.push(() => context.close());
  page = await context.newPage();
  await page.goto(new URL('/healthz', hub.url).href);
  // The watcher: every subscription event, as the browser's EventSource dispatches them.
  const url = new URL('/.well-known/mercure', hub.url);
  url.searchParams.set('match_urlpattern', `${API}/:type/:match/:subscriber`);
  url.searchParams.set('authorization', WATCHER);
  await page.evaluate((href) => {
    window.got = [];
    window.source = new EventSource(href);
    window.source.addEventListener('mercure', (e) => window.got.push(JSON.parse(e.data)));
    return new Promise((resolve) => { window.source.onopen = resolve; });
  }, url.href);
});

after(() => runCleanups(cleanups));

/** The subscription events the browser received about `match`. */
async function eventsAbout(match) {
  return (await page.evaluate(() => window.got)).filter((doc) => doc.match === match);
}

async function waitForEvents(match, n, what) {
  let seen = [];
  const deadline = Date.now() + 10000;
  while ((seen = await eventsAbout(match)).length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return seen;
}

function api(pathAndQuery, auth = WATCHER) {
  const headers = auth ? { authorization: `Bearer ${auth}` } : {};
  return fetch(new URL(pathAndQuery, hub.url), { headers });
}

/** Checks the join event and the API while present, then the leave event and the API after. */
async function joinsAndLeaves(match, connect) {
  const disconnect = await connect();
  const [joined] = await waitForEvents(match, 1, `${match} to join`);
  assert.equal(joined.active, true);
  assert.equal(joined.type, 'subscription');
  assert.equal(joined.match_type, 'exact');
  assert.match(joined.subscriber, /^urn:uuid:/);
  const encoded = `${API}/exact/${encodeURIComponent(match)}/${encodeURIComponent(joined.subscriber)}`;
  assert.equal(joined.id, encoded, 'the document names its own resource');
  const one = await api(encoded);
  assert.equal(one.status, 200);
  assert.equal(one.headers.get('content-type'), 'application/json');
  // The event also names the node it is on (for the other nodes of a cluster); the rest is the
  // resource's document.
  const { node, ...document } = joined;
  assert.match(node, /^urn:uuid:/);
  assert.deepEqual(await one.json(), document);
  const count = await (await api(`${API}/exact/${encodeURIComponent(match)}?count`)).json();
  assert.equal(count.count, 1);

  await disconnect();
  const events = await waitForEvents(match, 2, `${match} to leave`);
  assert.deepEqual(events.map((e) => e.active), [true, false]);
  assert.equal(events[1].subscriber, joined.subscriber);
  assert.equal((await api(encoded)).status, 404, 'gone from the API');
  return joined;
}

const subscribeUrl = (match, params = {}) => {
  const url = new URL('/.well-known/mercure', hub.url);
  url.searchParams.set('match', match);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
};

test('an SSE subscriber appears, is listed with the Link cursor, and leaves when it disconnects', async () => {
  await joinsAndLeaves('/room/sse', async () => {
    const source = new EventSource(subscribeUrl('/room/sse'));
    await new Promise((resolve) => { source.onopen = resolve; });
    const all = await api(API);
    assert.equal(all.status, 200);
    const link = all.headers.get('link');
    assert.match(link, /rel="mercure"; last-event-id="[^"]+"; type="mercure"; content-type="application\/json"/);
    const body = await all.json();
    assert.equal(body.type, 'subscriptions');
    assert.equal(body.id, API);
    assert.ok(body.subscriptions.some((s) => s.match === '/room/sse'), JSON.stringify(body));
    return () => source.close();
  });
});

for (const [transport, accept] of [['ndjson', 'application/x-ndjson'], ['htmlfile', 'text/html']]) {
  test(`a ${transport} subscriber appears and leaves when it disconnects`, async () => {
    await joinsAndLeaves(`/room/${transport}`, async () => {
      const controller = new AbortController();
      const response = await fetch(subscribeUrl(`/room/${transport}`, { transport }), { signal: controller.signal, headers: { accept } });
      assert.equal(response.status, 200);
      const reader = response.body.getReader();
      reader.read().catch(() => {});
      return () => controller.abort();
    });
  });
}

test('a WebSocket subscriber appears with its subscribe and leaves when the socket closes', async () => {
  await joinsAndLeaves('/room/ws', async () => {
    const url = new URL('/.well-known/mercure', hub.url);
    url.protocol = 'ws:';
    const client = await openSocket(url);
    const ack = await client.request({ type: 'subscribe', match: '/room/ws' });
    assert.equal(ack.type, 'ack');
    return () => client.socket.close();
  });
});

test('a long-polling client stays present while it polls and leaves once it stops', async () => {
  let polling = true;
  let polls = 0;
  let loop;
  await joinsAndLeaves('/room/long-poll', async () => {
    loop = (async () => {
      let cursor = 'earliest';
      let handle = null;
      while (polling) {
        const url = subscribeUrl('/room/long-poll', { transport: 'long-poll', timeout: '0.3', last_event_id: cursor });
        if (handle) url.searchParams.set('presence', handle);
        const body = await (await fetch(url)).json();
        cursor = body.last_event_id;
        handle = body.presence;
        polls += 1;
      }
    })();
    // Several polls, each ending and the next starting: one subscriber, present throughout.
    await waitFor(() => polls >= 5, 10000, 'five polls');
    assert.equal((await eventsAbout('/room/long-poll')).length, 1, 'no leave between two polls');
    return async () => { polling = false; await loop; };
  });
});

test('the subscriptions API refuses without rights and answers 404 for what does not exist', async () => {
  const noToken = await api(API, null);
  assert.equal(noToken.status, 401);
  assert.match(noToken.headers.get('www-authenticate'), /^Bearer/);
  const elsewhere = await api(API, token('--subscribe', '/other'));
  assert.equal(elsewhere.status, 403);
  assert.match(await elsewhere.text(), /does not allow subscribing/);
  for (const missing of [`${API}/exact/${encodeURIComponent('/nobody')}/urn%3Auuid%3Ax`, `${API}/exact`, `${API}/a/b/c/d`, `${API}/%FF`]) {
    assert.equal((await api(missing)).status, 404, missing);
  }
  const empty = await (await api(`${API}/exact/${encodeURIComponent('/nobody')}`)).json();
  assert.deepEqual(empty.subscriptions, []);
  const metadata = await (await fetch(new URL('/.well-known/oauth-protected-resource/.well-known/mercure', hub.url))).json();
  assert.equal(metadata.mercure_subscriptions, true, 'the feature is advertised');
  assert.equal(metadata.mercure_cookie, 'mercureAuthorization');
});

test('a Bayeux session is present on its channel, across its connects, and leaves once it ends', async () => {
  const cometd = new URL('/cometd', hub.url);
  const post = async (messages) => (await fetch(cometd, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(messages) })).json();
  const [shake] = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  assert.equal(shake.successful, true, JSON.stringify(shake));
  const clientId = shake.clientId;
  const [subscribed] = await post([{ channel: '/meta/subscribe', clientId, subscription: '/room/bayeux' }]);
  assert.equal(subscribed.successful, true, JSON.stringify(subscribed));
  const connect = () => post([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
  await connect();
  const [joined] = await waitForEvents('/room/bayeux', 1, 'the Bayeux session to join');
  assert.equal(joined.match_type, 'channel');
  assert.notEqual(joined.subscriber, clientId, 'the client id (its credential) is not shown');
  for (let i = 0; i < 3; i++) await connect();
  assert.equal((await eventsAbout('/room/bayeux')).length, 1, 'no leave between two connects');
  await post([{ channel: '/meta/disconnect', clientId }]);
  const events = await waitForEvents('/room/bayeux', 2, 'the Bayeux session to leave');
  assert.deepEqual(events.map((e) => e.active), [true, false]);
});

test('a WebSocket that stops answering pings leaves at the ping timeout', async () => {
  const quick = await startHub(['--subscriptions', '--jwt-key', KEY, '--anonymous', '--heartbeat', '200ms']);
  try {
    const url = new URL('/.well-known/mercure', quick.url);
    url.protocol = 'ws:';
    const mute = await openSocket(url, { autoPong: false });
    const ack = await mute.request({ type: 'subscribe', match: '/room/mute' });
    assert.equal(ack.type, 'ack');
    const collection = new URL(`${API}/exact/${encodeURIComponent('/room/mute')}?count`, quick.url);
    const count = async () => (await (await fetch(collection, { headers: { authorization: `Bearer ${WATCHER}` } })).json()).count;
    assert.equal(await count(), 1, 'present while the socket is open');
    const closed = new Promise((resolve) => mute.socket.once('close', resolve));
    await closed;
    let left = false;
    const deadline = Date.now() + 5000;
    while (!(left = (await count()) === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.ok(left, 'gone once the hub closed the silent socket');
  } finally {
    quick.stop();
  }
});

test('with --subscriptions-coalesce, a crowd joining and leaving is a few summary events with the count', async () => {
  const coalescing = await startHub(['--subscriptions', '--subscriptions-coalesce', '300ms', '--jwt-key', KEY, '--jwt-query-param', '--anonymous']);
  const sources = [];
  try {
    const watch = new URL('/.well-known/mercure', coalescing.url);
    watch.searchParams.set('match_urlpattern', `${API}/:type/:match`);
    watch.searchParams.set('authorization', WATCHER);
    const summaries = [];
    const watcher = new EventSource(watch);
    sources.push(watcher);
    watcher.addEventListener('mercure', (e) => {
      const doc = JSON.parse(e.data);
      if (doc.match === '/stadium') summaries.push(doc);
    });
    await new Promise((resolve) => { watcher.onopen = resolve; });
    const crowd = 30;
    const url = new URL('/.well-known/mercure', coalescing.url);
    url.searchParams.set('match', '/stadium');
    for (let i = 0; i < crowd; i++) sources.push(new EventSource(url));
    const joined = () => summaries.reduce((n, s) => n + s.joined, 0);
    await waitFor(() => joined() === crowd, 10000, 'the crowd in the summaries');
    assert.ok(summaries.length < crowd / 2, `${summaries.length} summaries for ${crowd} joins`);
    assert.equal(summaries.at(-1).count, crowd);
    assert.equal(summaries[0].type, 'subscriptions');
    assert.equal(summaries[0].id, `${API}/exact/%2Fstadium`);
    const before = summaries.length;
    for (const source of sources.splice(1)) source.close();
    await waitFor(() => summaries.at(-1).count === 0, 10000, 'the crowd to leave');
    assert.equal(summaries.slice(before).reduce((n, s) => n + s.left, 0), crowd);
  } finally {
    for (const source of sources) source.close();
    coalescing.stop();
  }
});
