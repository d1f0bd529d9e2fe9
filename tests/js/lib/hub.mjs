// Starting the built `herald` binary for JavaScript end-to-end tests, publishing to it, and a
// loopback TCP relay whose connections a test can cut to simulate a network drop.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const defaultBinary = path.resolve(here, '../../../target/debug/herald');

/**
 * Starts `herald serve` on a free port with a fresh data directory; resolves to
 * { url, hubUrl, pid, publish, stop }. With `--tls-cert` and `--tls-key` in `args`, the URLs are
 * https ones, and `publish` works only in a process that trusts the certificate. The demo
 * publishers (clock, ticker, poker table) run only with `{ demo: true }`.
 */
export async function startHub(args = [], { demo = false } = {}) {
  const binary = process.env.HERALD_BIN || defaultBinary;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-js-'));
  const child = spawn(binary, ['serve', '--addr', '127.0.0.1:0', ...(demo ? [] : ['--no-demo']), '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HERALD_LOG: 'warn' },
  });
  const exited = new Promise((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start ${binary}: ${e.message} (run cargo build first, or set HERALD_BIN)`)));
    child.once('exit', (code) => reject(new Error(`herald exited with ${code} before listening`)));
  });
  const lines = createInterface({ input: child.stdout });
  const firstLine = new Promise((resolve) => lines.once('line', resolve));
  const line = await Promise.race([firstLine, exited]);
  const match = /https?:\/\/[^\s/]+\//.exec(line);
  if (!match) throw new Error(`no address in ${JSON.stringify(line)}`);
  const url = new URL(match[0]);
  const hubUrl = new URL('/.well-known/mercure', url);
  return {
    url,
    hubUrl,
    pid: child.pid,
    /** Publishes the fields (arrays repeat); resolves to the id, rejects on any non-200. */
    async publish(fields) {
      const body = new URLSearchParams();
      for (const [name, value] of Object.entries(fields)) {
        for (const v of [].concat(value)) body.append(name, v);
      }
      const response = await fetch(hubUrl, { method: 'POST', body });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`publish answered ${response.status}: ${text}`);
      return text;
    },
    stop() {
      child.kill('SIGKILL');
      child.once('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));
    },
  };
}

/**
 * A TCP relay to `target` on a free loopback port. `cut()` destroys every open connection, and
 * `cut({ refuseFor: ms })` also refuses new ones for that long (a network outage rather than a
 * blip, which browsers may paper over by retrying a request by themselves); `requests` records
 * the request heads seen, so a test can check what a client sent.
 * With `blockWebSocket` (an option, or the property of the same name, settable at any time) it
 * acts like a proxy that refuses WebSocket: a connection whose request head asks for
 * `Upgrade: websocket` is dropped before anything reaches `target`; `blocked` counts them. With
 * `stallWebSocket` such a connection is kept open but never answered (a proxy that hangs), and
 * counted in `blocked` too.
 */
export async function startRelay(target, { blockWebSocket = false, stallWebSocket = false } = {}) {
  const sockets = new Set();
  const requests = [];
  const relay = {
    url: null,
    requests,
    blockWebSocket,
    stallWebSocket,
    blocked: 0,
    refuseUntil: 0,
    cut({ refuseFor = 0 } = {}) {
      this.refuseUntil = Date.now() + refuseFor;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close() {
      this.cut();
      server.close();
    },
  };
  const server = net.createServer((downstream) => {
    if (Date.now() < relay.refuseUntil) {
      downstream.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(downstream);
    sockets.add(upstream);
    const close = () => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    downstream.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    upstream.pipe(downstream);
    // Hold the bytes until the request head is complete, so that a blocked upgrade never
    // reaches the target; then relay everything as it comes.
    const held = [];
    let head = '';
    const readHead = (chunk) => {
      held.push(chunk);
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      downstream.off('data', readHead);
      requests.push(head);
      if (/^upgrade:[ \t]*websocket[ \t]*$/im.test(head.split('\r\n\r\n')[0])) {
        if (relay.stallWebSocket) {
          relay.blocked += 1;
          return;
        }
        if (relay.blockWebSocket) {
          relay.blocked += 1;
          close();
          return;
        }
      }
      for (const c of held) upstream.write(c);
      downstream.pipe(upstream);
    };
    downstream.on('data', readHead);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  relay.url = new URL(`http://127.0.0.1:${port}/`);
  return relay;
}

/** Resolves when `predicate()` holds, polling; rejects after `ms`. */
/** Runs `cleanups` last first, logging (not throwing) what fails, so every one of them runs. */
export async function runCleanups(cleanups) {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error('cleanup:', error);
    }
  }
}

export async function waitFor(predicate, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
