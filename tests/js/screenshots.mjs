// Takes the README's screenshots of every page, in headless Chromium against the built binary:
// the clock, the ticker, the chat, the poker table (a spectator, and a player seated at it) and
// the dashboard while `herald bench` loads the hub. Writes PNG files to SCREENSHOTS_DIR
// (docs/screenshots by default). The suite runs it into tests/js/artifacts so it keeps working.
//
//   cargo build && (cd tests/js && node screenshots.mjs)
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.HERALD_BIN || path.resolve(here, '../../target/debug/herald');
const out = path.resolve(process.env.SCREENSHOTS_DIR || path.join(here, '../../docs/screenshots'));
const KEY = 'screenshots-secret-of-at-least-32-bytes!';
const token = (...args) => execFileSync(binary, ['token', '--key', KEY, ...args], { encoding: 'utf8' }).trim();
const viewport = { width: 1280, height: 800 };
const cleanups = [];

async function browser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  cleanups.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  const context = await launchChromium(profile);
  cleanups.push(() => context.close());
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  return { context, page };
}

async function shoot(page, name) {
  await page.screenshot({ path: path.join(out, `${name}.png`) });
  console.log(`${name}.png`);
}

try {
  fs.mkdirSync(out, { recursive: true });
  const hub = await startHub(['--jwt-key', KEY, '--anonymous', '--subscriptions', '--demo-poker-pace', '400ms'], { demo: true });
  cleanups.push(() => hub.stop());
  const at = (p) => new URL(p, hub.url).href;
  const { context, page } = await browser();

  await page.goto(at('/'));
  await page.waitForFunction(() => !/--/.test(document.getElementById('clock').textContent));
  await shoot(page, 'index');

  await page.goto(at('/ticker'));
  await page.waitForFunction(() => document.querySelectorAll('#tape tr').length >= 8, null, { timeout: 20000 });
  await shoot(page, 'ticker');

  await page.goto(at('/chat'));
  await page.waitForLoadState('networkidle').catch(() => {});
  await shoot(page, 'chat');

  // A player at the table, seen by the player and by a spectator.
  const player = await browser();
  await player.page.goto(at('/poker'));
  await player.page.fill('[data-testid="sit-name"]', 'You');
  await player.page.click('[data-testid="sit"]');
  await player.page.waitForFunction(
    () => document.querySelectorAll('[data-testid="my-cards"] [data-card]').length === 2, null, { timeout: 60000 });
  await page.goto(at('/poker'));
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid="board"] [data-card]').length >= 3, null, { timeout: 60000 });
  await shoot(page, 'poker-spectator');
  await shoot(player.page, 'poker-player');

  // The dashboard, while 300 subscribers receive 300 messages a second.
  await context.addCookies([{ name: 'mercureAuthorization', value: token('--subscribe', '*'), url: hub.url.href }]);
  await page.goto(at('/admin'));
  const bench = spawn(binary, [
    'bench', '--url', hub.url.href.replace(/\/$/, ''), '-n', '300', '-m', '6000', '--rate', '300', '--publishers', '1',
    '--publish-token', token('--publish', '*'), '--no-progress', '--log', 'warn',
  ], { stdio: 'ignore' });
  cleanups.push(() => bench.kill('SIGKILL'));
  await page.waitForFunction(() => {
    const figure = document.querySelector('section.node [data-figure="delivered_per_s"]');
    return Number(figure?.textContent.replace(/\D/g, '')) > 50000;
  }, null, { timeout: 30000 });
  // Some seconds of history in the charts.
  await new Promise((resolve) => setTimeout(resolve, 8000));
  await shoot(page, 'admin');
} finally {
  await runCleanups(cleanups);
}
