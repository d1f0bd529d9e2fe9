// The npm `eventsource` package (a client nobody here wrote) against the built hub: typed,
// multi-line and unicode events with the right lastEventId, then a dropped connection that
// resumes with exactly the missed events, once each, in order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startHub, startRelay, waitFor } from './lib/hub.mjs';

const TOPIC = 'https://example.com/stocks/ACME';

test('npm eventsource receives every event and resumes after a drop', async () => {
  const hub = await startHub(['--retry', '300ms']);
  const relay = await startRelay(hub.url);
  after(() => {
    relay.close();
    hub.stop();
  });

  const subscribeUrl = new URL('/.well-known/mercure', relay.url);
  subscribeUrl.searchParams.append('match', TOPIC);
  const source = new EventSource(subscribeUrl);
  const received = [];
  const record = (e) => received.push({ type: e.type, data: e.data, lastEventId: e.lastEventId });
  source.onmessage = record;
  source.addEventListener('price', record);
  let opens = 0;
  source.onopen = () => { opens += 1; };
  await waitFor(() => opens === 1, 10000, 'first open');

  const sent = [
    { topic: TOPIC, data: 'first line\nsecond line\nthird line', id: 'ev-1' },
    { topic: TOPIC, data: 'héllo wörld ✓ 日本語 🚀', id: 'ev-2' },
    { topic: TOPIC, data: '{"price": 42.5}', type: 'price', id: 'ev-3' },
    { topic: TOPIC, data: 'generated id' },
  ];
  const ids = [];
  for (const fields of sent) ids.push(await hub.publish(fields));
  await hub.publish({ topic: 'https://example.com/stocks/OTHER', data: 'not subscribed' });
  assert.deepEqual(ids.slice(0, 3), ['ev-1', 'ev-2', 'ev-3']);
  assert.match(ids[3], /^urn:uuid:/);

  await waitFor(() => received.length === 4, 10000, 'four live events');
  assert.deepEqual(received, [
    { type: 'message', data: 'first line\nsecond line\nthird line', lastEventId: 'ev-1' },
    { type: 'message', data: 'héllo wörld ✓ 日本語 🚀', lastEventId: 'ev-2' },
    { type: 'price', data: '{"price": 42.5}', lastEventId: 'ev-3' },
    { type: 'message', data: 'generated id', lastEventId: ids[3] },
  ]);

  // Drop the connection, publish while the client is away, let it reconnect by itself.
  relay.cut();
  const missed = [];
  for (let i = 1; i <= 5; i++) {
    missed.push(await hub.publish({ topic: TOPIC, data: `missed ${i}`, type: i % 2 ? 'price' : '' }));
  }
  await waitFor(() => opens === 2, 10000, 'reconnection');
  await waitFor(() => received.length === 9, 10000, 'the missed events');
  const live = await hub.publish({ topic: TOPIC, data: 'after reconnect' });
  await waitFor(() => received.length === 10, 10000, 'a live event after reconnecting');
  // Give any duplicate a chance to show up before counting.
  await new Promise((r) => setTimeout(r, 300));

  assert.deepEqual(received.slice(4), [
    ...missed.map((id, k) => ({ type: (k + 1) % 2 ? 'price' : 'message', data: `missed ${k + 1}`, lastEventId: id })),
    { type: 'message', data: 'after reconnect', lastEventId: live },
  ]);
  assert.equal(received.length, 10);
  // The client resumed with the id of the last event it had seen.
  const reconnectHead = relay.requests.at(-1).toLowerCase();
  assert.match(reconnectHead, new RegExp(`last-event-id: ${ids[3]}\\r\\n`));
  source.close();
});
