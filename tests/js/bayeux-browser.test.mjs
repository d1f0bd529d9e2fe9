// The CometD browser client (npm `cometd`, its ES modules served to the page from node_modules)
// in headless Chromium against Herald's /cometd: over callback-polling (JSONP script tags) and
// over WebSocket, each the only transport left registered, it handshakes, subscribes, receives
// every event published with the form API once and in order, and publishes an event that an SSE
// subscriber of the same topic receives.
//
// Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub, waitFor } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const COMETD = path.join(here, 'node_modules', 'cometd');
const TEST_TIMEOUT = 30000;

let hub;
let context;
const cleanups = [];

before(async () => {
  hub = await startHub();
  cleanups.push(() => hub.stop());
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  cleanups.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  context = await launchChromium(profile);
  cleanups.push(() => context.close());
  // The page imports the CometD client from /cometd-client/, answered from node_modules.
  await context.route('**/cometd-client/*.js', (route) => {
    const file = path.join(COMETD, path.basename(new URL(route.request().url()).pathname));
    route.fulfill({ contentType: 'text/javascript; charset=utf-8', body: fs.readFileSync(file, 'utf8') });
  });
});

after(async () => {
  await runCleanups(cleanups);
});

for (const transport of ['callback-polling', 'websocket']) {
  test(`the CometD browser client over ${transport} receives and publishes`, { timeout: TEST_TIMEOUT }, async () => {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error));
    await page.goto(new URL('/healthz', hub.url).href);
    const topic = `/browser/${transport}`;
    const used = await page.evaluate(
      async ({ transport, topic }) => {
        const { CometD } = await import('/cometd-client/cometd.js');
        const cometd = new CometD();
        for (const type of cometd.getTransportTypes()) {
          if (type !== transport) cometd.unregisterTransport(type);
        }
        cometd.configure({ url: new URL('/cometd', location.href).href, logLevel: 'warn' });
        window.got = [];
        window.cometd = cometd;
        await new Promise((resolve, reject) => {
          cometd.handshake((reply) => {
            if (!reply.successful) return reject(new Error(JSON.stringify(reply)));
            cometd.subscribe(topic, (m) => window.got.push(m.data), (r) => (r.successful ? resolve() : reject(new Error(r.error))));
          });
        });
        return cometd.getTransport().type;
      },
      { transport, topic },
    );
    assert.equal(used, transport);

    const sent = [];
    for (let i = 1; i <= 20; i++) {
      sent.push({ i, text: `event ${i} é ✓` });
      await hub.publish({ topic, data: JSON.stringify(sent.at(-1)) });
    }
    let got = [];
    const deadline = Date.now() + 15000;
    while (got.length < sent.length && Date.now() < deadline) {
      got = await page.evaluate(() => window.got);
      if (got.length < sent.length) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(got, sent, 'every event once, in order');

    const source = new EventSource(new URL(`/.well-known/mercure?match=${encodeURIComponent(topic)}`, hub.url));
    const seen = [];
    source.onmessage = (e) => seen.push(e.data);
    await new Promise((resolve) => { source.onopen = resolve; });
    const reply = await page.evaluate(
      (topic) => new Promise((resolve) => window.cometd.publish(topic, { from: 'browser' }, resolve)),
      topic,
    );
    assert.equal(reply.successful, true, JSON.stringify(reply));
    await waitFor(() => seen.length === 1, 10000, 'the browser publish over SSE');
    source.close();
    assert.deepEqual(JSON.parse(seen[0]), { from: 'browser' });
    await page.evaluate(() => new Promise((resolve) => window.cometd.disconnect(resolve)));
    assert.deepEqual(errors, []);
    await page.close();
  });
}
