// Bayeux at /cometd with clients nobody here wrote: npm `cometd` 9 (with `cometd-nodejs-client`)
// and npm `faye` 1.4, each over WebSocket and over long-polling. They handshake, subscribe with
// /x/* and /x/**, publish and receive, share their topics with the form API, the hub's own
// WebSocket and SSE, unsubscribe and disconnect; private updates reach only an authorized session;
// a network cut and a lost session both end with every event received once, in order; and a table
// of bad inputs gets the exact error for each.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapt } from 'cometd-nodejs-client';
import { CometD, AckExtension } from 'cometd';
import faye from 'faye';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import { resumeExtension } from '../../clients/js/bayeux.js';
import { startHub, startRelay, waitFor, runCleanups } from './lib/hub.mjs';

adapt();

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const KEY = 'bayeux-test-secret-of-at-least-32-bytes';

function token(...args) {
  return execFileSync(binary, ['token', '--key', KEY, ...args], { encoding: 'utf8' }).trim();
}

/** A CometD or Faye client behind one small interface: every call resolves on the hub's reply. */
function makeClient(kind, url, { websocket, ack = false, resume = null, timeout = 30 }) {
  const endpoint = new URL('/cometd', url).href;
  if (kind === 'cometd') {
    const cometd = new CometD();
    if (!websocket) cometd.unregisterTransport('websocket');
    cometd.configure({ url: endpoint, logLevel: 'warn', maxBackoff: 500, backoffIncrement: 100 });
    if (ack) cometd.registerExtension('ack', new AckExtension());
    if (resume) cometd.registerExtension('herald', resume);
    const subscriptions = new Map();
    const onHandshake = [];
    cometd.addListener('/meta/handshake', (m) => {
      if (m.successful) for (const f of onHandshake) f();
    });
    return {
      kind,
      raw: cometd,
      transport: () => cometd.getTransport()?.type,
      onRehandshake: (f) => onHandshake.push(f),
      handshake: () => new Promise((resolve, reject) => {
        cometd.handshake((r) => (r.successful ? resolve(r) : reject(new Error(JSON.stringify(r)))));
      }),
      subscribe: (channel, listener) => new Promise((resolve, reject) => {
        const handle = cometd.subscribe(channel, (m) => listener(m.data, m), (r) => {
          if (r.successful) {
            subscriptions.set(channel, handle);
            resolve(r);
          } else reject(new Error(r.error));
        });
      }),
      unsubscribe: (channel) => new Promise((resolve) => cometd.unsubscribe(subscriptions.get(channel), resolve)),
      publish: (channel, data) => new Promise((resolve, reject) => {
        cometd.publish(channel, data, (r) => (r.successful ? resolve(r) : reject(new Error(r.error))));
      }),
      clientId: () => cometd.getClientId(),
      disconnect: () => new Promise((resolve) => cometd.disconnect(resolve)),
    };
  }
  const client = new faye.Client(endpoint, { timeout, retry: 0.2 });
  if (!websocket) client.disable('websocket');
  if (resume) client.addExtension(resume);
  let lastReplyOf = null;
  client.addExtension({ incoming: (m, cb) => { if (m.channel === '/meta/handshake') lastReplyOf = m; cb(m); } });
  const subscriptions = new Map();
  return {
    kind,
    raw: client,
    transport: () => client._dispatcher?._transport?.connectionType,
    onRehandshake: () => {},
    handshake: () => new Promise((resolve) => client.handshake(() => resolve(lastReplyOf))),
    subscribe: async (channel, listener) => {
      const subscription = client.subscribe(channel, (data) => listener(data));
      await subscription;
      subscriptions.set(channel, subscription);
    },
    unsubscribe: async (channel) => subscriptions.get(channel).cancel(),
    publish: (channel, data) => new Promise((resolve, reject) => {
      client.publish(channel, data).then(resolve, (e) => reject(new Error(`${e.code}:${e.params}:${e.message}`)));
    }),
    clientId: () => client._dispatcher.clientId,
    disconnect: () => client.disconnect(),
  };
}

/** Posts raw Bayeux messages; resolves to { status, body } with the body parsed when JSON. */
async function post(url, messages, headers = {}) {
  const response = await fetch(new URL('/cometd', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof messages === 'string' ? messages : JSON.stringify(messages),
  });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body, type: response.headers.get('content-type') };
}

async function handshake(url, extra = {}) {
  const { body } = await post(url, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'h', ...extra }]);
  assert.equal(body[0].successful, true, JSON.stringify(body));
  return body[0].clientId;
}

/** Publishes over the hub's own WebSocket protocol; resolves to the event id. */
async function publishOverWebSocket(url, topic, data) {
  const socket = new WebSocket(new URL('/.well-known/mercure', url).href.replace('http', 'ws'));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'publish', topic, data, ref: 1 }));
  const [answer] = await new Promise((resolve) => socket.once('message', (m) => resolve([JSON.parse(m)])));
  socket.close();
  assert.equal(answer.type, 'ack', JSON.stringify(answer));
  return answer.id;
}

const VARIANTS = [
  { kind: 'cometd', websocket: true },
  { kind: 'cometd', websocket: false },
  { kind: 'faye', websocket: true },
  { kind: 'faye', websocket: false },
];
const label = (v) => `${v.kind} over ${v.websocket ? 'websocket' : 'long-polling'}`;

for (const variant of VARIANTS) {
  test(`${label(variant)}: subscribe with patterns, publish and receive from every transport, unsubscribe, disconnect`, async () => {
    const cleanups = [];
    after(() => runCleanups(cleanups));
    const hub = await startHub();
    cleanups.push(() => hub.stop());
    const client = makeClient(variant.kind, hub.url, variant);
    await client.handshake();
    const one = [];
    const deep = [];
    await client.subscribe('/x/*', (data) => one.push(data));
    await client.subscribe('/x/**', (data) => deep.push(data));

    const source = new EventSource(new URL('/.well-known/mercure?match=/x/mine', hub.url));
    cleanups.push(() => source.close());
    const sse = [];
    source.onmessage = (e) => sse.push(e.data);
    await new Promise((resolve) => { source.onopen = resolve; });

    await hub.publish({ topic: '/x/form', data: '{"n":1}' });
    await hub.publish({ topic: '/x/form/deeper', data: 'plain text' });
    await publishOverWebSocket(hub.url, '/x/ws', '{"n":3}');
    await client.publish('/x/mine', { n: 4 });
    await waitFor(() => deep.length === 4 && one.length === 3 && sse.length === 1, 15000, 'every event');
    assert.deepEqual(one, [{ n: 1 }, { n: 3 }, { n: 4 }]);
    assert.deepEqual(deep, [{ n: 1 }, 'plain text', { n: 3 }, { n: 4 }]);
    assert.deepEqual(sse, ['{"n":4}'], 'the Bayeux publish reached SSE as its JSON text');
    if (variant.websocket) assert.equal(client.transport(), 'websocket');
    else assert.equal(client.transport(), 'long-polling');

    await client.unsubscribe('/x/*');
    await hub.publish({ topic: '/x/after', data: '"after"' });
    await waitFor(() => deep.length === 5, 10000, 'the event after unsubscribing');
    assert.equal(deep[4], 'after');
    assert.equal(one.length, 3, 'nothing more on the channel unsubscribed');

    const clientId = client.clientId();
    await client.disconnect();
    const { body } = await post(hub.url, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '9' }]);
    assert.equal(body[0].error, `402:${clientId}:Unknown Client ID`, 'the session is gone after the disconnect');
  });
}

for (const variant of VARIANTS) {
  test(`${label(variant)}: a network cut and a lost session lose nothing, repeat nothing`, async () => {
    const cleanups = [];
    after(() => runCleanups(cleanups));
    const hub = await startHub(['--bayeux-session-timeout', '1s', '--bayeux-timeout', '5s']);
    cleanups.push(() => hub.stop());
    const relay = await startRelay(hub.url);
    cleanups.push(() => relay.close());
    const resume = resumeExtension();
    const client = makeClient(variant.kind, relay.url, { ...variant, ack: true, resume, timeout: 5 });
    cleanups.push(() => client.disconnect());
    const received = [];
    const listener = (data) => received.push(data.n);
    await client.handshake();
    await client.subscribe('/cut/room', listener);
    // CometD forgets subscriptions on a new handshake: renew them, as its applications do.
    let renewed = false;
    client.onRehandshake(() => {
      if (renewed) return;
      renewed = true;
      client.raw.subscribe('/cut/room', (m) => listener(m.data));
    });
    let n = 0;
    const publish = async (count) => {
      for (let i = 0; i < count; i++) {
        n += 1;
        await hub.publish({ topic: '/cut/room', data: JSON.stringify({ n }) });
      }
    };
    await publish(5);
    await waitFor(() => received.length === 5, 10000, 'the first events');

    // A cut shorter than the session timeout: the same session goes on.
    relay.cut({ refuseFor: 300 });
    await publish(5);
    await waitFor(() => received.length >= 10, 20000, 'the events published during the cut');

    // A cut longer than the session timeout: the hub drops the session, the client handshakes
    // again and resumes from the last id it has.
    relay.cut({ refuseFor: 2500 });
    await publish(5);
    await waitFor(() => received.length >= 15, 30000, 'the events published while the session was lost');
    await publish(2);
    await waitFor(() => received.length >= 17, 10000, 'the events after the new session');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(received, Array.from({ length: 17 }, (_, i) => i + 1), 'every event once, in order');
  });
}

test('private updates reach only the sessions whose token grants their topic', async () => {
  const cleanups = [];
  after(() => runCleanups(cleanups));
  const hub = await startHub(['--jwt-key', KEY, '--anonymous']);
  cleanups.push(() => hub.stop());
  const allowed = makeClient('cometd', hub.url, { websocket: true, resume: resumeExtension({ token: token('--subscribe', 'pattern:/secret/*') }) });
  const anonymous = makeClient('faye', hub.url, { websocket: false });
  cleanups.push(() => allowed.disconnect(), () => anonymous.disconnect());
  await allowed.handshake();
  await anonymous.handshake();
  const got = { allowed: [], anonymous: [] };
  await allowed.subscribe('/secret/**', (d) => got.allowed.push(d));
  await anonymous.subscribe('/secret/**', (d) => got.anonymous.push(d));
  // Callback-polling takes no rights from cookies (another site's script tag would send them).
  const readerToken = token('--subscribe', 'pattern:/secret/*');
  const jsonp = async (messages) => {
    const url = new URL('/cometd', hub.url);
    url.searchParams.set('message', JSON.stringify(messages));
    const response = await fetch(url, { headers: { cookie: `mercureAuthorization=${readerToken}` } });
    const text = await response.text();
    return JSON.parse(text.replace(/^jsonpcallback\(/, '').replace(/\);$/, ''));
  };
  const [hello] = await jsonp([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['callback-polling'] }]);
  const cid = hello.clientId;
  const connect = { channel: '/meta/connect', clientId: cid, connectionType: 'callback-polling' };
  await jsonp([connect]);
  await jsonp([{ channel: '/meta/subscribe', clientId: cid, subscription: '/secret/**' }]);
  const cookieConnect = jsonp([connect]);
  const publisher = token('--publish', '*');
  for (const [data, priv] of [['"hidden"', true], ['"public"', false]]) {
    const body = new URLSearchParams({ topic: '/secret/room', data });
    if (priv) body.append('private', 'on');
    const response = await fetch(hub.hubUrl, { method: 'POST', body, headers: { authorization: `Bearer ${publisher}` } });
    assert.equal(response.status, 200, await response.text());
  }
  await waitFor(() => got.allowed.length === 2 && got.anonymous.length === 1, 10000, `the deliveries (${JSON.stringify(got)})`);
  const delivered = (await cookieConnect).filter((m) => m.channel === '/secret/room').map((m) => m.data);
  assert.deepEqual(delivered, ['public'], 'the cookie gave callback-polling no rights');
  assert.deepEqual(got.allowed, ['hidden', 'public']);
  assert.deepEqual(got.anonymous, ['public']);
  // A session without publish rights is refused, with Bayeux's words.
  await assert.rejects(anonymous.publish('/secret/room', 'x'), /401:\/secret\/room:/);
  const reader = makeClient('cometd', hub.url, { websocket: false, resume: resumeExtension({ token: token('--publish', '/other') }) });
  cleanups.push(() => reader.disconnect());
  await reader.handshake();
  await assert.rejects(reader.publish('/secret/room', 'x'), /403:\/secret\/room:Permission Denied/);
});

test('bad input gets the exact Bayeux error, or 400/413 when it is not Bayeux at all', async () => {
  const cleanups = [];
  after(() => runCleanups(cleanups));
  const hub = await startHub(['--bayeux-max-messages', '5', '--max-body-bytes', '4096', '--bayeux-sessions-per-ip', '3']);
  cleanups.push(() => hub.stop());
  const url = hub.url;
  const id = await handshake(url);
  const errorOf = async (message) => {
    const { status, body } = await post(url, [{ id: 'm', ...message }]);
    assert.equal(status, 200);
    assert.equal(body[0].successful, false, JSON.stringify(body));
    return body[0].error;
  };
  const cases = [
    [{ channel: '/meta/connect', connectionType: 'long-polling' }, '401::No client ID'],
    [{ channel: '/meta/connect', clientId: 'nope', connectionType: 'long-polling' }, '402:nope:Unknown Client ID'],
    [{ channel: '/meta/connect', clientId: id, connectionType: 'iframe' }, '400:iframe:Unsupported connectionType'],
    [{ clientId: id }, '400::Missing channel'],
    [{ channel: '/meta/dance', clientId: id }, '400:/meta/dance:Unknown meta channel'],
    [{ channel: '/a//b', clientId: id, data: 1 }, '400:/a//b:empty channel segment'],
    [{ channel: 'nochannel', clientId: id, data: 1 }, '400:nochannel:a channel starts with /'],
    [{ channel: '/a/*/b', clientId: id, data: 1 }, '400:/a/*/b:a wildcard is a whole last segment: /a/* or /a/**'],
    [{ channel: '/meta/subscribe', clientId: id }, '400::Missing subscription'],
    [{ channel: '/meta/subscribe', clientId: id, subscription: '/meta/connect' }, '403:/meta/connect:meta channels cannot be subscribed'],
    [{ channel: '/meta/subscribe', clientId: id, subscription: '/service/echo' }, '403:/service/echo:service channels cannot be subscribed'],
    [{ channel: '/meta/subscribe', clientId: 'nope', subscription: '/a' }, '402:nope:Unknown Client ID'],
    [{ channel: '/service/echo', clientId: id, data: 1 }, '404:/service/echo:No service on this channel'],
    [{ channel: '/a/*', clientId: id, data: 1 }, '400:/a/*:cannot publish to a channel pattern'],
    [{ channel: '/a', clientId: id }, '400:/a:Missing data'],
    [{ channel: '/a', data: 1 }, '401::No client ID'],
    [{ channel: '/a', clientId: id, data: 1, ext: { herald: { private: 'yes' } } }, '400:/a:ext.herald.private must be a boolean'],
    [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['iframe'] },
      '400:websocket,long-polling,callback-polling:No supported connection type in common: offer websocket, long-polling or callback-polling'],
    [{ channel: '/meta/handshake', version: '2.0', supportedConnectionTypes: ['long-polling'] }, '400:version:this hub speaks Bayeux 1.0'],
  ];
  for (const [message, error] of cases) {
    assert.equal(await errorOf(message), error, JSON.stringify(message));
  }
  // An element that is not a message object is answered in its place; the others still are.
  const mixed = await post(url, [5, { channel: '/meta/subscribe', clientId: id, subscription: '/a', id: 's' }]);
  assert.equal(mixed.body[0].error, '400::message must be a JSON object with string fields');
  assert.equal(mixed.body[1].successful, true);

  // Two connects in one request, then a second connect while one waits.
  const connect = (cid, i) => ({ channel: '/meta/connect', clientId: cid, connectionType: 'long-polling', id: `c${i}` });
  await post(url, [connect(id, 0)]); // the first is answered at once
  const now = { advice: { timeout: 0 } };
  const two = await post(url, [{ ...connect(id, 1), ...now }, connect(id, 2)]);
  assert.equal(two.body[0].error, `409:${id}:only one /meta/connect per request`);
  const waiting = post(url, [connect(id, 3)]);
  await new Promise((r) => setTimeout(r, 200));
  const newer = post(url, [{ ...connect(id, 4), ...now }]);
  const older = await waiting;
  assert.equal(older.body[0].error, `409:${id}:a newer /meta/connect of this session replaced this one`);
  assert.equal(older.body[0].advice.reconnect, 'none');
  assert.equal((await newer).body.at(-1).successful, true);

  // Not Bayeux at all.
  const plain = async (body, status, pattern, headers) => {
    const answer = await post(url, body, headers);
    assert.equal(answer.status, status, String(body).slice(0, 40));
    assert.match(answer.type, /^text\/plain/);
    assert.match(answer.body, pattern);
  };
  await plain('not json', 400, /a Bayeux request is a JSON array of messages/);
  await plain('5', 400, /a Bayeux request is a JSON array of message objects/);
  await plain('[]', 400, /the request holds no message/);
  await plain(JSON.stringify(Array.from({ length: 6 }, () => ({ channel: '/a' }))), 413, /more than 5 messages in one request/);
  await plain(JSON.stringify([{ channel: '/a', data: 'x'.repeat(5000) }]), 413, /larger than 4096 bytes/);
  await plain('message=nope', 400, /JSON array/, { 'content-type': 'application/x-www-form-urlencoded' });
  const get = async (query) => fetch(new URL(`/cometd?${query}`, url));
  const noMessage = await get('');
  assert.equal(noMessage.status, 400);
  const badCallback = await get(`message=${encodeURIComponent('[{"channel":"/meta/handshake"}]')}&jsonp=alert(1)`);
  assert.equal(badCallback.status, 400);
  assert.match(await badCallback.text(), /plain JavaScript identifier/);

  // Callback-polling answers JavaScript calling the named (or default) callback.
  const jsonp = await get(`message=${encodeURIComponent(JSON.stringify([{ ...connect(id, 5), ...now }]))}&jsonp=cb.done`);
  assert.equal(jsonp.status, 200);
  assert.match(jsonp.headers.get('content-type'), /^text\/javascript/);
  const script = await jsonp.text();
  assert.match(script, /^cb\.done\(\[.*\]\);$/s);
  const fallback = await get(`message=${encodeURIComponent(JSON.stringify([{ ...connect(id, 6), ...now }]))}`);
  assert.match(await fallback.text(), /^jsonpcallback\(/);

  // Sessions per address: three were allowed (one is in use above).
  await handshake(url);
  await handshake(url);
  assert.equal(await errorOf({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }),
    '429::more than 3 sessions from this address');

  // Over the WebSocket, what is not Bayeux closes the socket with the code for it.
  const closeOf = async (send) => {
    const socket = new WebSocket(new URL('/cometd', url).href.replace('http', 'ws'));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    send(socket);
    return new Promise((resolve) => socket.once('close', (code, reason) => resolve([code, String(reason)])));
  };
  assert.deepEqual(await closeOf((s) => s.send(Buffer.from([1, 2]))), [1003, 'send Bayeux messages as JSON text']);
  const [invalid] = await closeOf((s) => s.send('not json'));
  assert.equal(invalid, 1007);
  const [tooMany] = await closeOf((s) => s.send(JSON.stringify(Array.from({ length: 6 }, () => ({ channel: '/a' })))));
  assert.equal(tooMany, 1009);

  const metrics = await (await fetch(new URL('/metrics', url))).text();
  assert.match(metrics, /herald_limit_rejections_total\{limit="bayeux_messages"\} 2/);
  assert.match(metrics, /herald_limit_rejections_total\{limit="bayeux_sessions"\} 1/);
  assert.match(metrics, /herald_connections\{transport="bayeux"\} 3/);

  // Nothing above disturbed the hub: with a session freed, a client works.
  const gone = await post(url, [{ channel: '/meta/disconnect', clientId: id, id: 'd' }]);
  assert.equal(gone.body[0].successful, true);
  const client = makeClient('cometd', url, { websocket: false });
  cleanups.push(() => client.disconnect());
  await client.handshake();
  const got = [];
  await client.subscribe('/a', (d) => got.push(d));
  await hub.publish({ topic: '/a', data: '{"ok":true}' });
  await waitFor(() => got.length === 1, 10000, 'the event');
  assert.deepEqual(got, [{ ok: true }]);
});
