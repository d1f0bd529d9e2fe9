// Three Herald nodes sharing one log, on a real redis-server and on a real nats-server -js:
// events published on node 1 reach SSE (npm `eventsource`), WebSocket (npm `ws`) and
// long-polling subscribers on nodes 2 and 3 once each, in order; a client resuming on another
// node with its last id gets exactly what it missed; private updates reach only authorized
// subscribers on every node; through nginx (deploy/nginx/herald-cluster.conf, round-robin) the
// clients of a node killed with SIGKILL reconnect to the others and lose nothing; while the
// engine is down publishes answer 503 with Retry-After and subscribers stay connected, and once it
// is back nothing is skipped or repeated; a node whose engine is unreachable refuses to start; a
// dashboard open on one node shows the figures of all three.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { startHub, waitFor, runCleanups } from './lib/hub.mjs';
import { openSocket } from './lib/socket.mjs';
import { startEngine, startNginx, freePort } from './lib/engines.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const KEY = 'cluster-test-secret-of-at-least-32-bytes';
const NGINX_CONF = path.resolve(here, '../../deploy/nginx/herald-cluster.conf');
const EVENTS = 1000;

const token = (...args) => execFileSync(binary, ['token', '--key', KEY, ...args], { encoding: 'utf8' }).trim();
const PUBLISHER = token('--publish', '*');

const cleanups = [];
after(() => runCleanups(cleanups));

let streams = 0;
/** Three nodes on `engine`, on a stream of their own (so each test starts from an empty log). */
async function startCluster(engine, extra = []) {
  const url = engine.url(`t${++streams}_${process.pid}`);
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const node = await startHub(['--store', url, '--jwt-key', KEY, '--jwt-query-param', '--anonymous', '--retry', '100ms', '--retry-jitter', '0', ...extra]);
    cleanups.push(() => node.stop());
    nodes.push(node);
  }
  return nodes;
}

/** Publishes on `node`; resolves to the response (never throws on a status). */
function post(node, fields) {
  const body = new URLSearchParams(fields);
  return fetch(node.hubUrl, { method: 'POST', body, headers: { authorization: `Bearer ${PUBLISHER}` } });
}

async function publish(node, fields) {
  const response = await post(node, fields);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return text;
}

/** An EventSource on `url` collecting its events' data and ids, and counting its openings. */
function sse(url) {
  const source = new EventSource(url);
  const got = { source, data: [], ids: [], opens: 0, errors: 0 };
  source.onopen = () => { got.opens += 1; };
  source.onerror = () => { got.errors += 1; };
  source.onmessage = (e) => { got.data.push(e.data); got.ids.push(e.lastEventId); };
  cleanups.push(() => source.close());
  return got;
}

function subscribeUrl(node, topic, params = {}) {
  const url = new URL(node.hubUrl);
  url.searchParams.set('topic', topic);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
}

/** A long-polling client: polls until stopped, from `earliest`, collecting the events' data. */
function longPoll(node, topic) {
  const got = { data: [], stopped: false, failures: [] };
  (async () => {
    let cursor = 'earliest';
    while (!got.stopped) {
      const url = subscribeUrl(node, topic, { transport: 'long-poll', timeout: '2', last_event_id: cursor });
      try {
        const response = await fetch(url);
        const body = await response.json();
        if (response.status !== 200) throw new Error(`${response.status}: ${JSON.stringify(body)}`);
        for (const event of body.events) got.data.push(event.data);
        cursor = body.last_event_id ?? cursor;
      } catch (e) {
        if (!got.stopped) got.failures.push(String(e));
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  cleanups.push(() => { got.stopped = true; });
  return got;
}

async function websocket(node, topic) {
  const url = new URL(node.hubUrl);
  url.protocol = 'ws:';
  const client = await openSocket(url);
  cleanups.push(() => client.socket.terminate());
  const ack = await client.request({ type: 'subscribe', topic });
  assert.equal(ack.type, 'ack', JSON.stringify(ack));
  return client;
}

const numbers = (from, to) => Array.from({ length: to - from }, (_, i) => String(from + i));

for (const kind of ['redis', 'nats']) {
  test(`${kind}: ${EVENTS} events from node 1 reach SSE, WebSocket and long-polling subscribers on nodes 2 and 3, once, in order`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const [one, two, three] = await startCluster(engine);
    const topic = '/orders';
    const streams = [sse(subscribeUrl(two, topic)), sse(subscribeUrl(three, topic))];
    await waitFor(() => streams.every((s) => s.opens === 1), 10000, 'the event streams to open');
    const sockets = [await websocket(two, topic), await websocket(three, topic)];
    const polls = [longPoll(two, topic), longPoll(three, topic)];
    for (let i = 0; i < EVENTS; i++) await publish(one, { topic, data: String(i) });
    const expected = numbers(0, EVENTS);
    const all = () => [
      ...streams.map((s) => s.data),
      ...sockets.map((s) => s.events.map((e) => e.data)),
      ...polls.map((p) => p.data),
    ];
    await waitFor(() => all().every((d) => d.length >= EVENTS), 30000, `every subscriber to get ${EVENTS} events`);
    for (const received of all()) assert.deepEqual(received, expected);
    // Ids are the cluster's: every node named each event the same way.
    assert.deepEqual(streams[0].ids, streams[1].ids);
    assert.deepEqual(sockets[0].events.map((e) => e.id), streams[0].ids);
    assert.deepEqual(polls.map((p) => p.failures), [[], []]);
  });

  test(`${kind}: a subscriber reconnecting to another node with its last id gets exactly what it missed`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const [one, two, three] = await startCluster(engine);
    const topic = '/moves';
    const first = sse(subscribeUrl(two, topic));
    await waitFor(() => first.opens === 1, 10000, 'the stream to open');
    for (let i = 0; i < 50; i++) await publish(one, { topic, data: String(i) });
    await waitFor(() => first.data.length === 50, 10000, 'the first 50 events on node 2');
    first.source.close();
    for (let i = 50; i < 100; i++) await publish(one, { topic, data: String(i) });
    const resumed = sse(subscribeUrl(three, topic, { lastEventID: first.ids.at(-1) }));
    await waitFor(() => resumed.data.length >= 50, 10000, 'the missed events on node 3');
    await publish(one, { topic, data: 'live' });
    await waitFor(() => resumed.data.length === 51, 10000, 'the live event on node 3');
    assert.deepEqual(resumed.data, [...numbers(50, 100), 'live']);
  });

  test(`${kind}: private updates reach only authorized subscribers, on every node`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const [one, two, three] = await startCluster(engine);
    const reader = token('--subscribe', 'pattern:/secret/:room');
    const allowed = [two, three].map((node) => sse(subscribeUrl(node, '/secret/{room}', { authorization: reader })));
    const anonymous = [two, three].map((node) => sse(subscribeUrl(node, '/secret/{room}')));
    const socket = await websocket(three, '/secret/{room}');
    await waitFor(() => [...allowed, ...anonymous].every((s) => s.opens === 1), 10000, 'the streams to open');
    await publish(one, { topic: '/secret/a', data: 'hidden', private: 'on' });
    await publish(one, { topic: '/secret/a', data: 'public' });
    await waitFor(() => [...allowed, ...anonymous].every((s) => s.data.includes('public')) && socket.events.length >= 1,
      10000, 'the public update everywhere');
    for (const s of allowed) assert.deepEqual(s.data, ['hidden', 'public']);
    for (const s of anonymous) assert.deepEqual(s.data, ['public']);
    assert.deepEqual(socket.events.map((e) => e.data), ['public'], 'an anonymous WebSocket gets no private update');
  });

  test(`${kind}: behind nginx, the clients of a node killed with SIGKILL reconnect to the others and lose nothing`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const nodes = await startCluster(engine);
    const nginx = await startNginx(NGINX_CONF, nodes.map((n) => ({ host: n.url.host })));
    cleanups.push(() => nginx.stop());
    const topic = '/ticker';
    const hubThroughProxy = { hubUrl: new URL('/.well-known/mercure', nginx.url) };
    // Six clients, spread round-robin over the three nodes.
    const clients = [];
    for (let i = 0; i < 6; i++) {
      clients.push(sse(subscribeUrl(hubThroughProxy, topic)));
      await waitFor(() => clients[i].opens === 1, 10000, `client ${i} to open`);
    }
    let sent = 0;
    const publishSome = async (n) => {
      for (let k = 0; k < n; k++) await publish(nodes[0], { topic, data: String(sent++) });
    };
    await publishSome(100);
    await waitFor(() => clients.every((c) => c.data.length === 100), 10000, 'the first 100 events');
    // Node 2 dies; its clients (two of the six) come back through nginx to nodes 1 and 3.
    process.kill(nodes[1].pid, 'SIGKILL');
    await publishSome(100);
    await waitFor(() => clients.filter((c) => c.opens === 2).length === 2, 15000, 'the killed node\'s clients to reconnect');
    await publishSome(100);
    await waitFor(() => clients.every((c) => c.data.length >= 300), 15000, 'every event on every client');
    for (const c of clients) assert.deepEqual(c.data, numbers(0, 300));
  });

  test(`${kind}: while the engine is down publishes answer 503 with Retry-After, subscribers stay, and nothing is skipped or repeated`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const [one, two] = await startCluster(engine);
    const topic = '/status';
    const stream = sse(subscribeUrl(two, topic));
    const socket = await websocket(two, topic);
    await waitFor(() => stream.opens === 1, 10000, 'the stream to open');
    for (let i = 0; i < 20; i++) await publish(one, { topic, data: String(i) });
    await waitFor(() => stream.data.length === 20, 10000, 'the events before the outage');

    await engine.stop();
    const refused = await post(one, { topic, data: 'refused' });
    assert.equal(refused.status, 503, await refused.text());
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After is set');
    assert.equal(stream.source.readyState, EventSource.OPEN, 'the subscriber stays connected');

    await engine.start();
    // The node's connection comes back by itself; until then publishes may still be refused.
    let sent = 20;
    const deadline = Date.now() + 15000;
    while (sent < 40) {
      const response = await post(one, { topic, data: String(sent) });
      await response.text();
      if (response.status === 200) sent += 1;
      else if (Date.now() > deadline) assert.fail(`publishing never recovered: ${response.status}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => stream.data.length >= 40 && socket.events.length >= 40, 20000, 'the events after the outage');
    assert.deepEqual(stream.data, numbers(0, 40));
    assert.deepEqual(socket.events.map((e) => e.data), numbers(0, 40));
    assert.equal(stream.opens, 1, 'the stream never had to reconnect');
  });

  test(`${kind}: presence answers for the whole cluster, and a node killed with SIGKILL leaves it`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const nodes = await startCluster(engine, ['--subscriptions', '--presence-heartbeat', '300ms']);
    const watcher = token('--subscribe', '*');
    const count = async (node) => {
      const url = new URL('/.well-known/mercure/subscriptions/exact/%2Flobby?count', node.url);
      const response = await fetch(url, { headers: { authorization: `Bearer ${watcher}` } });
      assert.equal(response.status, 200);
      return (await response.json()).count;
    };
    const lobby = (node) => {
      const url = new URL(node.hubUrl);
      url.searchParams.set('match', '/lobby');
      return url;
    };
    const onTwo = sse(lobby(nodes[1]));
    const onThree = sse(lobby(nodes[2]));
    await waitFor(() => onTwo.opens === 1 && onThree.opens === 1, 10000, 'the streams to open');
    // Node 1 has no subscriber of its own: it answers for the others.
    let seen = 0;
    const deadline = Date.now() + 10000;
    while ((seen = await count(nodes[0])) !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen, 2, 'both remote subscribers counted on node 1');
    const listed = await (await fetch(new URL('/.well-known/mercure/subscriptions', nodes[0].url), { headers: { authorization: `Bearer ${watcher}` } })).json();
    assert.equal(listed.subscriptions.filter((s) => s.match === '/lobby').length, 2);
    process.kill(nodes[2].pid, 'SIGKILL');
    const gone = Date.now() + 10000;
    while ((seen = await count(nodes[0])) !== 1 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen, 1, 'the killed node\'s subscriber left the cluster\'s presence');
    assert.equal(await count(nodes[1]), 1);
  });

  test(`${kind}: a dashboard open on one node shows every node's figures`, async () => {
    const engine = await startEngine(kind);
    cleanups.push(() => engine.stop('SIGKILL'));
    const nodes = await startCluster(engine);
    const url = subscribeUrl(nodes[1], '/.well-known/mercure/dashboard', { authorization: token('--subscribe', '*') });
    const source = new EventSource(url);
    cleanups.push(() => source.close());
    const seen = new Map();
    source.addEventListener('figures', (e) => {
      const figures = JSON.parse(e.data);
      seen.set(figures.node, figures);
    });
    await waitFor(() => seen.size === 3, 15000, `figures from the three nodes (so far from ${[...seen.keys()]})`);
    const ports = [...seen.keys()].map((node) => Number(node.split(':').pop())).sort();
    assert.deepEqual(ports, nodes.map((node) => Number(node.url.port)).sort());
    // Only node 2 has a dashboard open; the others publish because it watches.
    const watching = [...seen.values()].filter((f) => f.watchers > 0).map((f) => Number(f.node.split(':').pop()));
    assert.deepEqual(watching, [Number(nodes[1].url.port)]);
    source.close();
  });

  test(`${kind}: a node whose engine cannot be reached refuses to start, naming it`, async () => {
    const port = await freePort();
    const url = kind === 'redis' ? `redis://127.0.0.1:${port}` : `nats://127.0.0.1:${port}`;
    const child = spawn(binary, ['serve', '--addr', '127.0.0.1:0', '--store', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${port}`), stderr);
  });
}
