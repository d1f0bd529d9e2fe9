// The poker table under a crowd: `herald bench --watch` holds POKER_SPECTATORS SSE spectators
// (300 by default; bench/poker.sh runs 5,000) on the table's topic for POKER_SECONDS while the
// bots play at POKER_PACE, and checks that every spectator received every event once and in
// order; meanwhile a spectator page in headless Chromium must keep up: what it received is
// exactly the hub's history from its first event to the newest. The bench's figures are written
// to artifacts/poker-load.json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub, waitFor } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const artifacts = path.join(here, 'artifacts');
const SPECTATORS = Number(process.env.POKER_SPECTATORS || 300);
const SECONDS = Number(process.env.POKER_SECONDS || 5);
const PACE = process.env.POKER_PACE || '50ms';
const TABLE = '/demo/poker/table';
const cleanups = [];

after(() => runCleanups(cleanups));

/** The ids of the events on the table's topic after `lastEventId`, up to `count` of them. */
async function replayAfter(hubUrl, lastEventId, count) {
  const url = new URL(hubUrl);
  url.searchParams.set('topic', TABLE);
  const abort = new AbortController();
  const response = await fetch(url, { headers: { 'last-event-id': lastEventId }, signal: abort.signal });
  const ids = [];
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body) {
      text += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const id = block.split('\n').find((line) => line.startsWith('id: '));
        if (id && block.includes('\ndata: ')) ids.push(id.slice(4));
      }
      if (ids.length >= count) break;
    }
  } finally {
    abort.abort();
  }
  return ids;
}

test(`${SPECTATORS} spectators and a Chromium page watch the bots play, losing nothing`, { timeout: 300_000 }, async () => {
  const hub = await startHub(
    ['--demo-poker-pace', PACE, '--max-connections', '100000', '--max-connections-per-ip', '100000'],
    { demo: true },
  );
  cleanups.push(() => hub.stop());
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  cleanups.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  const context = await launchChromium(profile);
  cleanups.push(() => context.close());
  const page = await context.newPage();
  await page.goto(new URL('/poker', hub.url).href);
  await page.waitForFunction(() => window.poker?.events?.length > 0, null, { timeout: 20000 });

  fs.mkdirSync(artifacts, { recursive: true });
  const report = path.join(artifacts, 'poker-load.json');
  const bench = spawn(binary, [
    'bench', '--url', hub.url.href.replace(/\/$/, ''), '--watch', TABLE, '-n', String(SPECTATORS),
    '--duration', `${SECONDS}s`, '--pid', String(hub.pid), '--json', report, '--check', '--no-progress', '--log', 'warn',
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
  cleanups.push(() => bench.kill('SIGKILL'));
  const code = await new Promise((resolve) => bench.once('exit', resolve));
  assert.equal(code, 0, 'herald bench --watch found spectators missing, repeating or reordering events');
  const figures = JSON.parse(fs.readFileSync(report, 'utf8'));
  assert.equal(figures.connected, SPECTATORS);
  assert.equal(figures.broken, 0);
  assert.ok(figures.events > 10, `the bots played too little: ${figures.events} events`);

  // The page kept up: its events are the hub's, from its first one to the newest.
  const seen = await page.evaluate(() => window.poker.events.map((e) => e.id));
  const [first, ...rest] = seen;
  const history = await replayAfter(hub.hubUrl, first, rest.length);
  assert.deepEqual(rest, history.slice(0, rest.length), 'the page missed, repeated or reordered events');
  const newest = (await replayAfter(hub.hubUrl, seen.at(-1), 1))[0];
  await waitFor(async () => {
    const ids = await page.evaluate(() => window.poker.events.map((e) => e.id));
    return newest === undefined || ids.includes(newest);
  }, 10000, 'the page to receive the newest event');
  await page.screenshot({ path: path.join(artifacts, 'poker-crowd.png') });
});
