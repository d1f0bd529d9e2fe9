// The npm `ws` client against the hub's WebSocket transport: subscribe, publish with acks,
// resuming after a dropped connection with nothing lost or repeated, delivery across transports
// (form to WebSocket and WebSocket to SSE), bad messages, and a refused foreign Origin.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import { startHub, waitFor } from './lib/hub.mjs';
import { openSocket } from './lib/socket.mjs';

let hub;
before(async () => {
  hub = await startHub(['--max-body-bytes', '4096', '--max-field-bytes', '64']);
});
after(() => hub.stop());

/** Opens a socket and collects what the hub sends: events, and other answers by arrival. */
async function connect(headers = {}) {
  const url = new URL('/.well-known/mercure', hub.url);
  url.protocol = 'ws:';
  return openSocket(url, { headers });
}

test('subscribe, publish with acks, and events in order', async () => {
  const a = await connect();
  const ack = await a.request({ type: 'subscribe', match: ['chat/lobby'] });
  assert.equal(ack.type, 'ack');
  const b = await connect();
  const published = [];
  for (const data of ['hello', 'multi\nline', 'ünïcødé ✓ 🚀']) {
    const answer = await b.request({ type: 'publish', topic: 'chat/lobby', data, event: 'chat' });
    assert.equal(answer.type, 'ack');
    assert.match(answer.id, /^urn:uuid:/);
    published.push(answer.id);
  }
  await waitFor(() => a.events.length === 3, 5000, 'three events');
  assert.deepEqual(
    a.events.map((e) => [e.id, e.event, e.data, e.topics]),
    published.map((id, i) => [id, 'chat', ['hello', 'multi\nline', 'ünïcødé ✓ 🚀'][i], ['chat/lobby']]),
  );
  assert.deepEqual(await a.request({ type: 'ping' }), { type: 'pong', ref: 'r2' });
  a.socket.close();
  b.socket.close();
});

test('a dropped connection resumes with nothing lost or repeated', async () => {
  const first = await connect();
  await first.request({ type: 'subscribe', match: 'resume' });
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await hub.publish({ topic: 'resume', data: `before ${i}` }));
  await waitFor(() => first.events.length === 3, 5000, 'live events');
  first.socket.terminate(); // an abrupt drop, no closing handshake
  for (let i = 0; i < 4; i++) await hub.publish({ topic: 'resume', data: `missed ${i}` });

  const again = await connect();
  const ack = await again.request({ type: 'subscribe', match: 'resume', last_event_id: first.events.at(-1).id });
  assert.equal(ack.last_event_id, ids[2]);
  await hub.publish({ topic: 'resume', data: 'live again' });
  await waitFor(() => again.events.length === 5, 5000, 'missed and live events');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(again.events.map((e) => e.data), ['missed 0', 'missed 1', 'missed 2', 'missed 3', 'live again']);
  again.socket.close();
});

test('events cross transports both ways', async () => {
  const ws = await connect();
  await ws.request({ type: 'subscribe', topic: 'https://example.com/items/{id}' });
  const fromForm = await hub.publish({ topic: 'https://example.com/items/7', data: 'from the form', type: 'item' });
  await waitFor(() => ws.events.length === 1, 5000, 'form event over WebSocket');
  assert.deepEqual([ws.events[0].id, ws.events[0].event, ws.events[0].data], [fromForm, 'item', 'from the form']);

  const sseUrl = new URL('/.well-known/mercure', hub.url);
  sseUrl.searchParams.append('match', 'to-sse');
  const sse = new EventSource(sseUrl);
  const received = [];
  sse.addEventListener('note', (e) => received.push([e.lastEventId, e.data]));
  await new Promise((resolve) => { sse.onopen = resolve; });
  const ack = await ws.request({ type: 'publish', topic: 'to-sse', data: 'from a socket\nline 2', event: 'note', id: 'ws-1' });
  assert.equal(ack.id, 'ws-1');
  await waitFor(() => received.length === 1, 5000, 'WebSocket event over SSE');
  assert.deepEqual(received[0], ['ws-1', 'from a socket\nline 2']);
  sse.close();
  ws.socket.close();
});

test('bad messages get an error and nobody else is affected', async () => {
  const watcher = await connect();
  await watcher.request({ type: 'subscribe', match: 'guarded' });
  const bad = await connect();
  const errors = [
    [{ type: 'publish', topic: 'guarded', event: 'mercure' }, /reserved/, 'bad_request'],
    [{ type: 'publish', data: 'no topic' }, /missing "topic"/, 'bad_request'],
    [{ type: 'publish', topic: 'guarded', id: 'a\nb' }, /"id" contains/, 'bad_request'],
    [{ type: 'publish', topic: 'guarded', retry: 'soon' }, /digits only/, 'bad_request'],
    [{ type: 'publish', topic: 'guarded', id: 'x'.repeat(65) }, /longer than 64 bytes/, 'too_large'],
    [{ type: 'subscribe', match_regex: 'x' }, /invalid message/, 'bad_request'],
    [{ type: 'subscribe' }, /missing topic matcher/, 'bad_request'],
    [{ type: 'teleport' }, /invalid message/, 'bad_request'],
  ];
  for (const [message, expected, code] of errors) {
    const answer = await bad.request(message);
    assert.equal(answer.type, 'error', JSON.stringify(message));
    assert.match(answer.message, expected);
    assert.equal(answer.code, code, JSON.stringify(message));
  }
  bad.socket.send('this is not JSON');
  await waitFor(() => bad.answers.some((a) => a.type === 'error' && !a.ref), 5000, 'error for non-JSON');

  // An oversize message closes that one connection with 1009.
  const closed = new Promise((resolve) => bad.socket.once('close', (code) => resolve(code)));
  bad.socket.send(JSON.stringify({ type: 'publish', topic: 'guarded', data: 'x'.repeat(10000) }));
  assert.equal(await closed, 1009);

  await hub.publish({ topic: 'guarded', data: 'still delivered' });
  await waitFor(() => watcher.events.length === 1, 5000, 'delivery to the others');
  assert.equal(watcher.events[0].data, 'still delivered');
  watcher.socket.close();
});

test('a foreign Origin is refused, the hub origin is accepted', async () => {
  await assert.rejects(connect({ Origin: 'https://evil.example' }), /403/);
  const same = await connect({ Origin: `http://${hub.url.host}` });
  same.socket.close();
});

test('a peer that stops answering pings is closed', async () => {
  const quick = await startHub(['--heartbeat', '200ms']);
  try {
    const url = new URL('/.well-known/mercure', quick.url);
    url.protocol = 'ws:';
    // Never answers pings: closed cleanly after two silent heartbeats with 1001.
    const mute = new WebSocket(url, { autoPong: false });
    await new Promise((resolve) => mute.once('open', resolve));
    const closed = new Promise((resolve) => mute.once('close', (code) => resolve(code)));
    assert.equal(await closed, 1001);
  } finally {
    quick.stop();
  }
});

test('a subscriber that stops reading is cut off alone with 1013', async () => {
  const small = await startHub(['--queue-capacity', '8']);
  try {
    const url = new URL('/.well-known/mercure', small.url);
    url.protocol = 'ws:';
    const slow = new WebSocket(url);
    const fast = new WebSocket(url);
    const got = [];
    fast.on('message', (raw) => { const m = JSON.parse(raw); if (m.type === 'event') got.push(m.data.length); });
    await Promise.all([slow, fast].map((s) => new Promise((resolve) => s.once('open', resolve))));
    for (const s of [slow, fast]) s.send(JSON.stringify({ type: 'subscribe', match: 'flood' }));
    await new Promise((r) => setTimeout(r, 200));
    slow._socket.pause();
    const slowClosed = new Promise((resolve) => slow.once('close', (code) => resolve(code)));
    // Random text: the sockets negotiate permessage-deflate (ws offers it), and a repeated
    // letter would compress to nothing and never fill the slow one's buffers.
    const payload = randomBytes(12 * 1024).toString('base64');
    for (let i = 0; i < 1500; i++) await small.publish({ topic: 'flood', data: payload });
    await waitFor(() => got.length === 1500, 20000, 'every event to the reading subscriber');
    slow._socket.resume();
    assert.equal(await slowClosed, 1013);
    fast.close();
  } finally {
    small.stop();
  }
});

test('a fresh subscription is told its position and resumes from it without a gap', async () => {
  const before = await hub.publish({ topic: 'pos/t', data: 'before' });
  const a = await connect();
  const ack = await a.request({ type: 'subscribe', match: ['pos/t'] });
  assert.equal(ack.last_event_id, null);
  assert.ok(typeof ack.position === 'string' && ack.position !== '', JSON.stringify(ack));
  // The newest event of the hub's log: maybe on another topic of another test, never after `before`.
  a.socket.terminate();
  const missed = await hub.publish({ topic: 'pos/t', data: 'missed while away' });
  const b = await connect();
  await b.request({ type: 'subscribe', match: ['pos/t'], last_event_id: ack.position });
  await waitFor(() => b.events.some((e) => e.id === missed), 5000, 'the missed event');
  assert.ok(!b.events.some((e) => e.id === before), 'nothing from before the position');
  b.socket.close();
});
