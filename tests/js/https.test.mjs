// The npm `eventsource` client over HTTPS: the hub serves a certificate made by openssl for this
// test, and a separate Node process, which trusts that certificate from its start
// (NODE_EXTRA_CA_CERTS), subscribes, publishes with fetch, and reports what it received.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHub } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOPIC = 'https://example.com/secure';

// Runs in the child process: subscribe, publish two events once open, print what arrives.
const CLIENT = `
import { EventSource } from 'eventsource';
const hub = new URL(process.env.HUB_URL);
const url = new URL(hub);
url.searchParams.append('match', ${JSON.stringify(TOPIC)});
const source = new EventSource(url);
const received = [];
const record = (e) => {
  received.push({ type: e.type, data: e.data, lastEventId: e.lastEventId });
  if (received.length === 2) {
    console.log(JSON.stringify({ received }));
    source.close();
  }
};
source.onmessage = record;
source.addEventListener('price', record);
source.onerror = (e) => console.error('eventsource error:', e.message ?? e);
source.onopen = async () => {
  const ids = [];
  for (const fields of [{ data: 'over https' }, { data: 'héllo ✓', type: 'price' }]) {
    const response = await fetch(hub, { method: 'POST', body: new URLSearchParams({ topic: ${JSON.stringify(TOPIC)}, ...fields }) });
    ids.push(await response.text());
  }
  console.log(JSON.stringify({ ids }));
};
`;

/** A self-signed certificate for localhost and 127.0.0.1, made with openssl into a temporary directory. */
function makeCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { dir, cert, key };
}

test('npm eventsource receives events over https', async () => {
  const { dir, cert, key } = makeCertificate();
  const hub = await startHub(['--tls-cert', cert, '--tls-key', key]);
  after(() => {
    hub.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(hub.url.protocol, 'https:');
  // This process does not trust the certificate: the hub is really speaking TLS, checked for real.
  await assert.rejects(fetch(new URL('/healthz', hub.url)));

  const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT], {
    cwd: here,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: cert, HUB_URL: hub.hubUrl.href },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const reports = {};
  for await (const line of createInterface({ input: child.stdout })) Object.assign(reports, JSON.parse(line));
  clearTimeout(timer);

  const { ids, received } = reports;
  assert.ok(ids && received, `the client reported ids and events: ${JSON.stringify(reports)}`);
  assert.deepEqual(received, [
    { type: 'message', data: 'over https', lastEventId: ids[0] },
    { type: 'price', data: 'héllo ✓', lastEventId: ids[1] },
  ]);
});
