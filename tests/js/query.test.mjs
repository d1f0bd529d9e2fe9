// Subscribing with the QUERY method: the matchers (and cursor, transport) in a form body, for
// lists too long for a URL; the union with the query component, whose last_event_id wins; and the
// answers to a wrong method, media type or size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, waitFor } from './lib/hub.mjs';

let hub;
before(async () => {
  hub = await startHub(['--max-body-bytes', '8192']);
});
after(() => hub.stop());

/** Opens a QUERY subscription; resolves to { events (data), abort }. */
async function query(search, body) {
  const controller = new AbortController();
  const url = new URL(hub.hubUrl);
  url.search = search;
  const response = await fetch(url, {
    method: 'QUERY',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    signal: controller.signal,
  });
  if (response.status !== 200) assert.fail(`QUERY answered ${response.status}: ${await response.text()}`);
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const events = [];
  (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
        if (data.length) events.push(data.join('\n'));
      }
    }
  })().catch(() => {});
  return { events, abort: () => controller.abort() };
}

test('QUERY subscribes with the matchers in the body, many more than a URL holds', async () => {
  const matchers = Array.from({ length: 30 }, (_, i) => `match=${encodeURIComponent(`/long/topic/name/${'x'.repeat(100)}/${i}`)}`);
  const sub = await query('', matchers.join('&'));
  try {
    await hub.publish({ topic: `/long/topic/name/${'x'.repeat(100)}/29`, data: 'last' });
    await hub.publish({ topic: '/elsewhere', data: 'not selected' });
    await hub.publish({ topic: `/long/topic/name/${'x'.repeat(100)}/0`, data: 'first' });
    await waitFor(() => sub.events.length >= 2, 5000, 'the events');
    assert.deepEqual(sub.events, ['last', 'first']);
  } finally {
    sub.abort();
  }
});

test('the query component and the body are one set of parameters; its last_event_id wins', async () => {
  const a = await hub.publish({ topic: '/union/a', data: 'a1' });
  const b = await hub.publish({ topic: '/union/b', data: 'b1' });
  await hub.publish({ topic: '/union/a', data: 'a2' });
  // The body names another cursor (b), the query's (a) wins; matchers come from both.
  const sub = await query(`?match=/union/a&last_event_id=${encodeURIComponent(a)}`, `match=/union/b&last_event_id=${encodeURIComponent(b)}`);
  try {
    await waitFor(() => sub.events.length >= 2, 5000, 'the replay');
    assert.deepEqual(sub.events, ['b1', 'a2']);
  } finally {
    sub.abort();
  }
});

test('another method, another media type or a body too large get their answers', async () => {
  const put = await fetch(hub.hubUrl, { method: 'PUT', body: 'match=/x' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, POST, QUERY');
  const json = await fetch(hub.hubUrl, { method: 'QUERY', body: '{"match":"/x"}', headers: { 'content-type': 'application/json' } });
  assert.equal(json.status, 415);
  assert.match(await json.text(), /application\/x-www-form-urlencoded/);
  const big = await fetch(hub.hubUrl, { method: 'QUERY', body: `match=${'y'.repeat(9000)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(big.status, 413);
  const none = await fetch(hub.hubUrl, { method: 'QUERY', body: 'transport=sse', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(none.status, 400);
});
