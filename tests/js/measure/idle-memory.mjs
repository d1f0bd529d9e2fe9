// Measures the hub's memory per idle connection: starts the hub, reads its resident memory,
// opens N idle subscribers (SSE or WebSocket, each on its own topic), reads it again.
// Usage: node measure/idle-memory.mjs [sse|ws] [N]   (HERALD_BIN selects the binary; use a
// release build for figures worth quoting).
import http from 'node:http';
import fs from 'node:fs';
import WebSocket from 'ws';
import { startHub } from '../lib/hub.mjs';

const kind = process.argv[2] || 'sse';
const count = Number(process.argv[3] || 2000);
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Every connection comes from 127.0.0.1: lift the per-address limit (and the total) above N.
const hub = await startHub(['--store', 'memory', '--max-connections-per-ip', String(count + 100), '--max-connections', String(count + 100)]);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
// Warm up allocator and runtime with a few connections, then take the baseline.
const open = [];
const connect = (i) =>
  new Promise((resolve, reject) => {
    const topic = `idle/${i}`;
    if (kind === 'ws') {
      const url = new URL('/.well-known/mercure', hub.url);
      url.protocol = 'ws:';
      const socket = new WebSocket(url);
      socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', match: topic })));
      socket.on('message', () => resolve(socket));
      socket.on('error', reject);
    } else {
      const url = new URL('/.well-known/mercure', hub.url);
      url.searchParams.append('match', topic);
      const request = http.get(url, { agent }, (response) => response.once('data', () => resolve(request)));
      request.on('error', reject);
    }
  });
for (let i = 0; i < 50; i++) open.push(await connect(`warm-${i}`));
await new Promise((r) => setTimeout(r, 500));
const before = rssKiB(hub.pid);
for (let i = 0; i < count; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(i + 100, count); j++) batch.push(connect(j));
  open.push(...(await Promise.all(batch)));
}
await new Promise((r) => setTimeout(r, 1000));
const after = rssKiB(hub.pid);
console.log(JSON.stringify({ kind, connections: count, rss_before_kib: before, rss_after_kib: after, kib_per_connection: +((after - before) / count).toFixed(2) }));
for (const c of open) (c.terminate ?? c.destroy).call(c);
hub.stop();
process.exit(0);
