// The operator's dashboard at /admin, in headless Chromium: refused without a token whose
// subscribe rights cover its reserved topic (also on a hub that lets anonymous subscribers in),
// signed into with the page's own form, and its figures moving while `herald bench` loads the
// hub; no figure reaches a subscriber without the rights, and none is published unwatched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub, waitFor } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const artifacts = path.join(here, 'artifacts');
const KEY = 'dashboard-test-secret-of-at-least-32-bytes';
const token = (...args) => execFileSync(binary, ['token', '--key', KEY, ...args], { encoding: 'utf8' }).trim();
const TOPIC = '/.well-known/mercure/dashboard';

let hub;
let context;
const cleanups = [];

before(async () => {
  hub = await startHub(['--jwt-key', KEY, '--anonymous']);
  cleanups.push(() => hub.stop());
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  cleanups.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  context = await launchChromium(profile);
  cleanups.push(() => context.close());
});

after(() => runCleanups(cleanups));

/** The figure `name` of the first node shown, as a number (NaN while there is none). */
async function figure(page, name) {
  const text = await page.locator(`section.node [data-figure="${name}"]`).first().textContent({ timeout: 1000 }).catch(() => '');
  return Number(String(text).replace(/[^0-9.]/g, '') || NaN);
}

/** herald_events_published_total from /metrics. */
async function publishedTotal() {
  const text = await (await fetch(new URL('/metrics', hub.url))).text();
  const line = text.split('\n').find((l) => l.startsWith('herald_events_published_total'));
  return Number(line?.split(' ').pop());
}

test('the dashboard needs a token that may read its topic, even with --anonymous', async () => {
  const admin = new URL('/admin', hub.url);
  const none = await fetch(admin);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate'), /^Bearer/);
  assert.match(none.headers.get('content-type'), /text\/html/);
  assert.match(await none.text(), /mercureAuthorization/);
  const other = await fetch(admin, { headers: { authorization: `Bearer ${token('--subscribe', '/other')}` } });
  assert.equal(other.status, 403);
  assert.match(await other.text(), /does not allow subscribing/);
  const forged = await fetch(admin, { headers: { cookie: `mercureAuthorization=${token('--subscribe', '*')}x` } });
  assert.equal(forged.status, 401);
  const granted = await fetch(admin, { headers: { cookie: `mercureAuthorization=${token('--subscribe', TOPIC)}` } });
  assert.equal(granted.status, 200);
  assert.match(await granted.text(), /Herald<\/span> dashboard/);
  // Nobody may publish on the reserved topic, so no figure can be forged.
  const forge = await fetch(hub.hubUrl, { method: 'POST', body: new URLSearchParams({ topic: TOPIC, data: '{}' }) });
  assert.equal(forge.status, 401, 'the hub requires a publisher token here');
  const publisher = token('--publish', '*');
  const reserved = await fetch(hub.hubUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${publisher}` },
    body: new URLSearchParams({ topic: TOPIC, data: '{}' }),
  });
  assert.equal(reserved.status, 400);
  assert.match(await reserved.text(), /reserved/);
});

test('signed in, the figures move while herald bench loads the hub; no figure leaks', async () => {
  // A public subscriber to everything must never see a figure.
  const leaks = [];
  const everything = new URL(hub.hubUrl);
  everything.searchParams.set('topic', '*');
  const anonymous = new EventSource(everything);
  anonymous.addEventListener('figures', (e) => leaks.push(e.data));
  anonymous.onmessage = (e) => e.data.includes('delivered_per_s') && leaks.push(e.data);
  cleanups.push(() => anonymous.close());

  const page = await context.newPage();
  cleanups.push(() => page.close());
  const refused = await page.goto(new URL('/admin', hub.url).href);
  assert.equal(refused.status(), 401);
  await page.fill('#token', token('--subscribe', '*'));
  await page.click('button[type=submit]');
  await page.waitForSelector('section.node [data-figure="subscribers"]', { timeout: 10000 });
  assert.equal(await page.locator('#state').textContent(), 'live');
  const before = await figure(page, 'published_per_s');
  assert.ok(Number.isFinite(before));

  // 200 subscribers receiving 3,000 messages at 500 a second from one publisher.
  const bench = spawn(binary, [
    'bench', '--url', hub.url.href.replace(/\/$/, ''), '-n', '200', '-m', '3000', '--rate', '500', '--publishers', '1',
    '--publish-token', token('--publish', '*'), '--no-progress', '--check', '--log', 'warn',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  const finished = new Promise((resolve) => bench.once('exit', resolve));
  cleanups.push(() => bench.kill('SIGKILL'));
  let peak = { delivered: 0, published: 0, connections: 0, subscribers: 0 };
  let shot = false;
  let busiest = '';
  await waitFor(async () => {
    const now = {
      delivered: await figure(page, 'delivered_per_s'),
      published: await figure(page, 'published_per_s'),
      connections: await figure(page, 'connections'),
      subscribers: await figure(page, 'subscribers'),
    };
    for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], now[k] || 0);
    const top = await page.locator('section.node [data-field="busiest"] tr').first().textContent().catch(() => '');
    if (/bench-0/.test(top)) busiest = top;
    if (!shot && now.delivered > 10000) {
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, 'admin.png'), fullPage: true });
      shot = true;
    }
    return peak.delivered > 10000 && peak.published > 100 && peak.connections >= 200 && /bench-0\s*200$/.test(busiest) && shot;
  }, 30000, `dashboard figures moving (peak so far ${JSON.stringify(peak)})`);
  assert.equal(await finished, 0, 'herald bench lost, repeated or reordered messages');
  // The latency figure reads a real distribution while writes happen.
  await page.waitForFunction(() => /ms$/.test(document.querySelector('[data-figure="write_p99"]')?.textContent ?? ''));
  await page.close();
  assert.deepEqual(leaks, [], 'a public subscriber received figures');
});

test('with no dashboard open, no figures are published', async () => {
  // The closed dashboards' streams end (the hub notices at its next write): publishing stops.
  let last = await publishedTotal();
  await waitFor(async () => {
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const now = await publishedTotal();
    const stopped = now === last;
    last = now;
    return stopped;
  }, 15000, 'the figures to stop once no dashboard is open');
  // Three of the publisher's ticks, and nothing more.
  await new Promise((resolve) => setTimeout(resolve, 3200));
  assert.equal(await publishedTotal(), last, 'events were published while nobody watched');
});
