// permessage-deflate (RFC 7692) on the hub's WebSocket transport, with the npm `ws` client:
// the negotiated parameters, compressed events that arrive intact and smaller on the wire,
// compressed client messages, and a compressed bomb closed with 1009 while other subscribers
// keep receiving.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, waitFor } from './lib/hub.mjs';
import { openSocket } from './lib/socket.mjs';

let hub;
before(async () => {
  hub = await startHub(['--max-body-bytes', '65536']);
});
after(() => hub.stop());

/** Opens a socket (compressing every message it sends when `deflate` is on). */
async function connect(deflate = true) {
  const url = new URL('/ws', hub.url);
  url.protocol = 'ws:';
  return openSocket(url, { perMessageDeflate: deflate ? { threshold: 0 } : false });
}

/** A JSON-like payload of about `size` bytes: repeated keys, varying numbers. */
function quotes(seed, size) {
  const parts = [];
  let n = seed * 7919;
  while (parts.join(',').length < size) {
    n = (n * 1103515245 + 12345) % 2147483648;
    parts.push(JSON.stringify({ symbol: ['ACME', 'HOOLI', 'STARK'][n % 3], price: (n % 100000) / 100, volume: n % 9999 }));
  }
  return `[${parts.join(',')}]`;
}

test('permessage-deflate is negotiated without context takeover and events arrive intact', async () => {
  const compressed = await connect(true);
  const plain = await connect(false);
  assert.equal(compressed.negotiated, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.equal(compressed.socket.extensions, 'permessage-deflate');
  assert.equal(plain.negotiated, '');
  for (const s of [compressed, plain]) assert.equal((await s.request({ type: 'subscribe', match: 'quotes' })).type, 'ack');

  const before = { compressed: compressed.socket._socket.bytesRead, plain: plain.socket._socket.bytesRead };
  const sent = [];
  for (let i = 0; i < 20; i++) {
    const data = quotes(i, 4000);
    sent.push(data);
    await hub.publish({ topic: 'quotes', data });
  }
  // A short one, and one published over the compressed socket (compressed by the client).
  sent.push('short ✓');
  await hub.publish({ topic: 'quotes', data: 'short ✓' });
  const own = quotes(99, 3000);
  sent.push(own);
  assert.equal((await compressed.request({ type: 'publish', topic: 'quotes', data: own })).type, 'ack');

  for (const s of [compressed, plain]) {
    await waitFor(() => s.events.length === sent.length, 5000, 'every event');
    assert.deepEqual(s.events.map((e) => e.data), sent);
  }
  const read = {
    compressed: compressed.socket._socket.bytesRead - before.compressed,
    plain: plain.socket._socket.bytesRead - before.plain,
  };
  assert.ok(read.compressed * 2 < read.plain, `compressed events are smaller on the wire: ${JSON.stringify(read)}`);
  compressed.socket.close();
  plain.socket.close();
});

test('a compressed bomb is closed with 1009 and other subscribers keep receiving', async () => {
  const bystander = await connect(true);
  await bystander.request({ type: 'subscribe', match: 'bystanders' });
  await hub.publish({ topic: 'bystanders', data: 'before' });

  const bomber = await connect(true);
  const closed = new Promise((resolve) => bomber.socket.once('close', (code) => resolve(code)));
  // 8 MiB of one letter: about 8 KiB compressed, under the 64 KiB limit, far over it inflated.
  const bomb = JSON.stringify({ type: 'publish', topic: 'bystanders', data: 'a'.repeat(8 << 20) });
  bomber.socket.send(bomb);
  assert.equal(await closed, 1009);

  await hub.publish({ topic: 'bystanders', data: 'after' });
  await waitFor(() => bystander.events.length === 2, 5000, 'events after the bomb');
  assert.deepEqual(bystander.events.map((e) => e.data), ['before', 'after']);
  const metrics = await (await fetch(new URL('/metrics', hub.url))).text();
  assert.match(metrics, /herald_limit_rejections_total\{limit="ws_message_size"\} [1-9]/);
  bystander.socket.close();
});
