// The engines a Herald cluster shares its log on, started for a test: a real `redis-server` or
// `nats-server -js` on a free loopback port with a fresh data directory, which the test can stop
// and start again on the same port and directory. Also nginx, in front of the nodes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A free loopback TCP port (free when asked; the engine takes it right after). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something accepts TCP connections on `port`; rejects after `ms`. */
export async function waitForPort(port, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function requireCommand(command, pkg) {
  const found = (process.env.PATH || '').split(':').some((dir) => fs.existsSync(path.join(dir, command)));
  if (!found) throw new Error(`${command} is not installed: apt-get install ${pkg}`);
}

const kinds = {
  redis: {
    command: 'redis-server',
    pkg: 'redis-server',
    // Every write on disk before it is acknowledged, as the README advises for no loss.
    args: (port, dir) => ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'always', '--dir', dir],
    url: (port, stream) => `redis://127.0.0.1:${port}?stream=${stream}`,
  },
  nats: {
    command: 'nats-server',
    pkg: 'nats-server',
    args: (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
    url: (port, stream) => `nats://127.0.0.1:${port}?stream=${stream}`,
  },
};

/**
 * Starts the engine `kind` ('redis' or 'nats'); resolves to { kind, port, url(stream), stop(signal),
 * start() }. `stop` waits for the process to exit; `start` brings it back on the same port and data.
 */
export async function startEngine(kind) {
  const spec = kinds[kind];
  requireCommand(spec.command, spec.pkg);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `herald-${kind}-`));
  let child = null;
  const engine = {
    kind,
    port,
    url: (stream) => spec.url(port, stream),
    async start() {
      // nats-server logs every start to stderr: only Redis's is kept (it says little unless wrong).
      child = spawn(spec.command, spec.args(port, dir), { stdio: ['ignore', 'ignore', kind === 'nats' ? 'ignore' : 'inherit'] });
      const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`${spec.command} exited with ${code}`))));
      exited.catch(() => {}); // once it listens, stopping it is the test's business
      await Promise.race([waitForPort(port), exited]);
    },
    async stop(signal = 'SIGTERM') {
      if (!child || child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await gone;
      child = null;
    },
  };
  await engine.start();
  return engine;
}

/**
 * Starts nginx with `conf` (a file for nginx's `http` block) included, the upstream addresses
 * 127.0.0.1:8081…8083 replaced by `nodes` and the listening port by a free one; resolves to
 * { url, stop }.
 */
export async function startNginx(conf, nodes) {
  const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
  if (!nginx) throw new Error('nginx is not installed: apt-get install nginx-light');
  const port = await freePort();
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-nginx-'));
  let text = fs.readFileSync(conf, 'utf8');
  nodes.forEach((node, i) => { text = text.replaceAll(`127.0.0.1:${8081 + i}`, node.host); });
  text = text.replace('listen 8080;', `listen 127.0.0.1:${port};`);
  fs.writeFileSync(path.join(prefix, 'herald.conf'), text);
  const main = `
error_log ${prefix}/error.log warn;
pid ${prefix}/nginx.pid;
worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/herald.conf;
}
`;
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), main);
  const child = spawn(nginx, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((_, reject) => child.once('exit', (code) => {
    const log = fs.existsSync(path.join(prefix, 'error.log')) ? fs.readFileSync(path.join(prefix, 'error.log'), 'utf8') : '';
    reject(new Error(`nginx exited with ${code}: ${log}`));
  }));
  exited.catch(() => {});
  await Promise.race([waitForPort(port), exited]);
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
