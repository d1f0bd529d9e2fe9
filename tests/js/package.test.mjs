// The JavaScript client as an npm package: `npm pack` in clients/js, the tarball installed offline
// into a scratch project, and the installed package imported by its name, `herald-client`
// (through its `exports`), in Node.js child processes and in headless Chromium (through an import
// map, from a page on another origin than the hub's), receiving events published to the built hub.
// Also: its types compile in a TypeScript project, and the hub serves the same client as the
// package ships.
//
// Needs npm, and Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launchChromium } from './lib/chromium.mjs';
import { runCleanups, startHub, startRelay } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_DIR = path.resolve(here, '../../clients/js');
const ASSETS_DIR = path.resolve(here, '../../crates/herald-server/assets');
const NAME = 'herald-client';
/** What the tarball must hold, and nothing else. */
const PACKED_FILES = ['README.md', 'bayeux.d.ts', 'bayeux.js', 'herald.d.ts', 'herald.js', 'package.json'];
const TEST_TIMEOUT = 60000;

let work; // the temporary directory holding everything below
let scratch; // the project the tarball is installed into
let installed; // scratch/node_modules/herald-client
let packed; // what `npm pack --json` said
let hub;
let site; // the static server for Chromium's page
const cleanups = [];

/** The environment for npm and node children: none of the `npm test` run's own npm settings. */
function childEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

/** Runs a command to its end; resolves to its stdout, rejects with its stderr on failure. */
function run(command, args, { cwd, timeout = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: childEnv(), timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n${stdout}\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** npm offline (the package has no dependencies), with a cache of its own rather than the user's. */
function npm(args, cwd) {
  const quiet = ['--offline', '--no-audit', '--no-fund', '--no-update-notifier', '--loglevel=error'];
  return run('npm', [...args, ...quiet, '--cache', path.join(work, 'npm-cache')], { cwd });
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-npm-'));
  cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));

  const packDir = path.join(work, 'pack');
  fs.mkdirSync(packDir);
  [packed] = JSON.parse(await npm(['pack', '--json', '--pack-destination', packDir], CLIENT_DIR));
  const tarball = path.join(packDir, packed.filename);
  assert.ok(fs.existsSync(tarball), `npm pack made no ${tarball}`);

  scratch = path.join(work, 'scratch');
  fs.mkdirSync(scratch);
  fs.writeFileSync(
    path.join(scratch, 'package.json'),
    JSON.stringify({ name: 'herald-client-scratch', version: '1.0.0', private: true, type: 'module' }, null, 2),
  );
  await npm(['install', tarball], scratch);
  installed = path.join(scratch, 'node_modules', NAME);
  assert.ok(fs.existsSync(path.join(installed, 'package.json')), `npm install put nothing in ${installed}`);

  // A page on an origin of its own, so the hub must allow it with --cors-origin.
  site = await serveScratch();
  cleanups.push(() => site.close());
  hub = await startHub(['--cors-origin', site.origin]);
  cleanups.push(() => hub.stop());
});

after(async () => {
  await runCleanups(cleanups);
});

test('npm pack makes a tarball of the client, its types, its README and package.json only', () => {
  const own = JSON.parse(fs.readFileSync(path.join(CLIENT_DIR, 'package.json'), 'utf8'));
  assert.equal(packed.name, NAME);
  assert.equal(packed.version, own.version);
  assert.deepEqual(packed.files.map((f) => f.path).sort(), PACKED_FILES);
  for (const file of PACKED_FILES.filter((f) => f !== 'package.json')) {
    assert.ok(
      fs.readFileSync(path.join(installed, file)).equals(fs.readFileSync(path.join(CLIENT_DIR, file))),
      `the installed ${file} is clients/js/${file}`,
    );
  }
});

test("the installed package's exports resolve, by its name, to its files", async () => {
  const meta = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.equal(meta.name, NAME);
  assert.equal(meta.type, 'module');
  const entry = meta.exports['.'];
  assert.deepEqual(Object.keys(entry), ['types', 'default'], 'types first, as TypeScript wants');
  for (const file of [entry.types, entry.default, meta.types]) {
    assert.ok(fs.existsSync(path.join(installed, file)), `${file}, named in package.json, is in the package`);
  }
  assert.equal(meta.types, entry.types);
  // Node's own resolution, from inside the scratch project.
  const script = `
    const attempt = (specifier) => { try { return import.meta.resolve(specifier); } catch (e) { return e.code; } };
    console.log(JSON.stringify(['${NAME}', '${NAME}/package.json', '${NAME}/bayeux', '${NAME}/herald.d.ts'].map(attempt)));
  `;
  const resolved = JSON.parse(await run(process.execPath, ['--input-type=module', '-e', script], { cwd: scratch }));
  assert.deepEqual(resolved, [
    pathToFileURL(path.join(installed, entry.default)).href,
    pathToFileURL(path.join(installed, 'package.json')).href,
    pathToFileURL(path.join(installed, meta.exports['./bayeux'].default)).href,
    'ERR_PACKAGE_PATH_NOT_EXPORTED',
  ]);
});

test('the hub serves the client and types that the package ships', async () => {
  for (const file of ['herald.js', 'herald.d.ts']) {
    const ours = fs.readFileSync(path.join(CLIENT_DIR, file));
    assert.ok(
      fs.readFileSync(path.join(ASSETS_DIR, file)).equals(ours),
      `crates/herald-server/assets/${file} must be byte-identical to clients/js/${file}`,
    );
    const response = await fetch(new URL(`/${file}`, hub.url));
    assert.equal(response.status, 200);
    const served = Buffer.from(await response.arrayBuffer());
    assert.ok(served.equals(ours), `the hub's /${file} is clients/js/${file} (rebuild the hub if it was changed)`);
  }
});

// ---------------------------------------------------------------------------------------------
// Node.js

/** The child's script: subscribes with the options given in argv, one JSON line per happening. */
const SUBSCRIBER = `
import { EventSource } from '${NAME}';

const config = JSON.parse(process.argv[2]);
const say = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
const options = { match: config.topic, retry: 200 };
if (config.transports) options.transports = config.transports;
if (config.openTimeout) options.openTimeout = config.openTimeout;
if (config.webSocket) options.WebSocket = (await import(config.webSocket)).WebSocket;
if (config.eventSource) options.EventSource = (await import(config.eventSource)).EventSource;
const source = new EventSource(config.hubUrl, options);
source.onopen = () => say({ open: source.transport });
source.onerror = () => say({ error: source.transport });
let received = 0;
const record = (e) => {
  say({ event: [e.type, e.data, e.lastEventId] });
  received += 1;
  if (received === config.count) {
    // Nothing may be left running after close(): the process must then exit by itself.
    source.close();
    say({ closed: source.readyState });
  }
};
source.addEventListener('message', record);
source.addEventListener('note', record);
`;

/** Starts the subscriber in the scratch project; its lines are collected as they come. */
function subscriber(config) {
  const script = path.join(scratch, 'subscribe.mjs');
  if (!fs.existsSync(script)) fs.writeFileSync(script, SUBSCRIBER);
  const child = spawn(process.execPath, [script, JSON.stringify(config)], {
    cwd: scratch,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const waiters = new Set();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(JSON.parse(line));
    for (const check of waiters) check();
  });
  let exited = null;
  // 'close' rather than 'exit': every line of its output has been read by then.
  const exit = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  exit.then((status) => {
    exited = status;
    for (const check of waiters) check();
  });
  cleanups.push(() => {
    if (exited === null) child.kill('SIGKILL');
  });
  const describe = () => `subscriber output: ${JSON.stringify(lines)}${stderr ? `\nstderr: ${stderr}` : ''}`;
  return {
    lines,
    /** Resolves when the lines so far satisfy `predicate`; rejects if the child exits first, or after `ms`. */
    until(predicate, what, ms = 15000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; ${describe()}`)), ms);
        const check = () => {
          if (predicate(lines)) done(null);
          else if (exited) done(new Error(`the subscriber exited (${JSON.stringify(exited)}) before ${what}; ${describe()}`));
        };
        const done = (error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(lines);
        };
        waiters.add(check);
        check();
      });
    },
    /** Resolves to the exit status; rejects (and kills the child) if it is still running after `ms`. */
    async exited(ms = 10000) {
      let timer;
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the subscriber did not exit within ${ms} ms of close(): something still runs; ${describe()}`));
        }, ms);
      });
      try {
        return await Promise.race([exit, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    describe,
  };
}

/**
 * Subscribes in a child process with `config`, publishes a message and a `note` event once it has
 * opened, and checks that both arrive with their data and ids, over `transport`, and that the
 * child exits cleanly after closing its source.
 */
async function nodeReceives(config, transport, { hubUrl = hub.hubUrl } = {}) {
  const topic = `/package/node/${transport}/${Math.random().toString(36).slice(2)}`;
  const child = subscriber({ hubUrl: hubUrl.href, topic, count: 2, ...config });
  const opened = (lines) => lines.find((line) => 'open' in line);
  await child.until(opened, 'open');
  assert.equal(opened(child.lines).open, transport, 'the transport it opened on');
  const expected = [];
  const published = [
    { topic, data: `hello over ${transport} ✓\nsecond line` },
    { topic, data: '🚀 note', type: 'note' },
  ];
  for (const fields of published) {
    expected.push([fields.type ?? 'message', fields.data, await hub.publish(fields)]);
  }
  await child.until((lines) => lines.some((line) => 'closed' in line), 'both events');
  assert.deepEqual(
    child.lines.filter((line) => 'event' in line).map((line) => line.event),
    expected,
    'the events, with their data and ids',
  );
  assert.deepEqual(child.lines.find((line) => 'closed' in line), { closed: 2 });
  assert.deepEqual(await child.exited(), { code: 0, signal: null }, child.describe());
  assert.equal(child.lines.filter((line) => 'error' in line).length, 0, child.describe());
}

for (const transport of ['ndjson', 'long-poll', 'poll']) {
  test(`Node.js: import { EventSource } from '${NAME}' receives events over ${transport}`, { timeout: TEST_TIMEOUT }, async () => {
    await nodeReceives({ transports: [transport] }, transport);
  });
}

test('Node.js: the default transports open on the first one this Node.js has', { timeout: TEST_TIMEOUT }, async () => {
  // Node.js 20 has neither WebSocket nor EventSource: the client skips them for NDJSON streaming.
  const has = (name) => typeof globalThis[name] === 'function';
  const first = has('WebSocket') ? 'websocket' : has('EventSource') ? 'sse' : 'ndjson';
  await nodeReceives({}, first);
});

test('Node.js: WebSocket and EventSource implementations given as options carry their transports', { timeout: TEST_TIMEOUT }, async () => {
  await nodeReceives({ webSocket: import.meta.resolve('ws') }, 'websocket');
  await nodeReceives({ eventSource: import.meta.resolve('eventsource'), transports: ['sse'] }, 'sse');
});

test('Node.js: a WebSocket (from ws) left unanswered gives way to NDJSON after openTimeout', { timeout: TEST_TIMEOUT }, async () => {
  const stalling = await startRelay(hub.url, { stallWebSocket: true });
  try {
    await nodeReceives(
      { webSocket: import.meta.resolve('ws'), transports: ['websocket', 'ndjson'], openTimeout: 1000 },
      'ndjson',
      { hubUrl: new URL('/.well-known/mercure', stalling.url) },
    );
    assert.equal(stalling.blocked, 1, 'one WebSocket attempt, left hanging');
  } finally {
    stalling.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Chromium

const CONTENT_TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.ts': 'application/typescript; charset=utf-8',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
};

/**
 * A static server on a port of its own: `/` is a page whose import map maps `herald-client` to
 * the installed package's entry point (read from its package.json's exports), and
 * `/node_modules/…` the scratch project's installed files; `requests` lists the paths asked for.
 */
async function serveScratch() {
  const modules = path.join(scratch, 'node_modules');
  const requests = [];
  const server = http.createServer((request, response) => {
    const { pathname } = new URL(request.url, 'http://localhost');
    requests.push(pathname);
    if (pathname === '/') {
      const meta = JSON.parse(fs.readFileSync(path.join(modules, NAME, 'package.json'), 'utf8'));
      const entry = `/node_modules/${NAME}/${path.posix.normalize(meta.exports['.'].default)}`;
      const importMap = JSON.stringify({ imports: { [NAME]: entry } });
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><meta charset="utf-8"><title>herald-client</title>
<script type="importmap">${importMap}</script>
<script type="module">
  import * as Herald from '${NAME}';
  window.Herald = Herald;
</script>`);
      return;
    }
    const file = path.join(modules, decodeURIComponent(pathname.replace(/^\/node_modules\//, '')));
    const servable =
      pathname.startsWith('/node_modules/') &&
      file.startsWith(modules + path.sep) &&
      fs.statSync(file, { throwIfNoEntry: false })?.isFile();
    if (!servable) {
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end('not found');
      return;
    }
    response.writeHead(200, { 'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(response);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Resolves when `predicate(window.log)` holds in the page; else fails with the log. */
async function pageWaits(page, predicate, what, ms = 20000) {
  try {
    await page.waitForFunction(predicate, null, { timeout: ms });
  } catch (error) {
    throw new Error(`${what}: ${JSON.stringify(await page.evaluate(() => window.log))} (${error.message})`);
  }
}

test("Chromium: a page on another origin imports 'herald-client' by an import map and receives events", { timeout: TEST_TIMEOUT }, async () => {
  const profile = fs.mkdtempSync(path.join(work, 'chromium-'));
  const context = await launchChromium(profile);
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`${site.origin}/`);
    await page.waitForFunction(() => window.Herald !== undefined, null, { timeout: 10000 });
    assert.ok(site.requests.includes(`/node_modules/${NAME}/herald.js`), `the page loaded the installed herald.js: ${site.requests}`);
    const defined = await page.evaluate(() => customElements.get('event-source') === window.Herald.EventSourceElement);
    assert.equal(defined, true, 'importing the package defined <event-source>');

    // One source per transport, forced, and one with the default list; each on a topic of its own.
    const names = [...(await page.evaluate(() => [...window.Herald.TRANSPORTS])), 'default'];
    assert.deepEqual(names, ['websocket', 'sse', 'ndjson', 'long-poll', 'poll', 'default']);
    await page.evaluate(
      ({ hubUrl, names }) => {
        window.log = {};
        for (const name of names) {
          const options = { match: `/package/chromium/${name}` };
          if (name !== 'default') options.transports = [name];
          const source = new window.Herald.EventSource(hubUrl, options);
          const log = (window.log[name] = { opened: [], events: [], errors: 0 });
          source.onopen = () => log.opened.push(source.transport);
          source.onerror = () => (log.errors += 1);
          source.onmessage = (e) => log.events.push([e.data, e.lastEventId, e.origin]);
        }
      },
      { hubUrl: hub.hubUrl.href, names },
    );
    await pageWaits(page, () => Object.values(window.log).every((log) => log.opened.length > 0), 'not every source opened');
    const expected = {};
    for (const name of names) {
      const data = `to Chromium over ${name} ✓`;
      const id = await hub.publish({ topic: `/package/chromium/${name}`, data });
      // The default list opens on WebSocket: the hub lets this origin's pages use it.
      expected[name] = { opened: [name === 'default' ? 'websocket' : name], events: [[data, id, hub.url.origin]], errors: 0 };
    }
    await pageWaits(page, () => Object.values(window.log).every((log) => log.events.length > 0), 'not every source received its event');
    assert.deepEqual(await page.evaluate(() => window.log), expected);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

// ---------------------------------------------------------------------------------------------
// TypeScript

const TYPED = `
import { EventSource, EventSourceElement, TRANSPORTS, type HeraldEventSourceInit, type TransportName } from '${NAME}';

const options: HeraldEventSourceInit = { match: ['/books/1'], transports: ['ndjson', 'long-poll'], retry: 500 };
const source = new EventSource('http://127.0.0.1:8080/.well-known/mercure', options);
source.onmessage = (e) => {
  const data: string = e.data;
  const id: string = e.lastEventId;
  console.log(data, id);
};
source.addEventListener('price', (e) => console.log(e.data.length));
const transport: TransportName = source.transport;
const all: readonly TransportName[] = TRANSPORTS;
const state: 0 | 1 | 2 = source.readyState;
const element: EventSourceElement | null = document.querySelector('event-source');
new EventSource('/hub', { WebSocket: globalThis.WebSocket, EventSource: globalThis.EventSource });
// @ts-expect-error: not a transport
new EventSource('/hub', { transports: ['carrier-pigeon'] });
// @ts-expect-error: a constructor, not a name
new EventSource('/hub', { WebSocket: 'ws' });
console.log(transport, all, state, element?.lastEventId);
`;

test(`TypeScript: a file importing '${NAME}' compiles against the packed types`, { timeout: TEST_TIMEOUT }, async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  fs.writeFileSync(path.join(scratch, 'check.ts'), TYPED);
  const types = path.join(installed, 'herald.d.ts');
  for (const [module, moduleResolution] of [['node16', 'node16'], ['preserve', 'bundler']]) {
    const config = `tsconfig.${moduleResolution}.json`;
    const compilerOptions = {
      module,
      moduleResolution,
      target: 'es2022',
      lib: ['es2022', 'dom'],
      types: [],
      strict: true,
      noEmit: true,
      // TypeScript's own lib files need no checking; herald.d.ts does.
      skipDefaultLibCheck: true,
    };
    fs.writeFileSync(path.join(scratch, config), JSON.stringify({ compilerOptions, files: ['check.ts'] }, null, 2));
    const listed = await run(process.execPath, [tsc, '-p', config, '--listFiles'], { cwd: scratch }).catch((error) => {
      throw new Error(`tsc with moduleResolution ${moduleResolution}: ${error.message}`);
    });
    assert.ok(
      listed.split('\n').some((line) => line.trim() !== '' && path.resolve(line.trim()) === types),
      `with moduleResolution ${moduleResolution}, tsc took the types from the installed package:\n${listed}`,
    );
  }
});
