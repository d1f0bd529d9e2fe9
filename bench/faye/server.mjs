// Faye's own Node.js Bayeux server, as its documentation sets one up: a NodeAdapter mounted at
// /faye on Node's http server, WebSocket upgrades included, the in-memory engine.
//
//   node server.mjs [PORT]      # or FAYE_PORT=PORT node server.mjs; 0 or nothing: any free port
//
// It listens on 127.0.0.1 (FAYE_HOST to change it) and prints `listening on http://HOST:PORT`
// once it accepts connections; SIGTERM or SIGINT closes it.
import http from 'node:http';
import faye from 'faye';

const host = process.env.FAYE_HOST || '127.0.0.1';
const port = Number(process.argv[2] ?? process.env.FAYE_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bench/faye: not a port: ${process.argv[2] ?? process.env.FAYE_PORT}`);
  process.exit(2);
}

const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout: 30 });
const server = http.createServer((request, response) => {
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('the Bayeux endpoint is /faye\n');
});
bayeux.attach(server);

server.listen(port, host, () => {
  const address = server.address();
  console.log(`listening on http://${address.address}:${address.port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    // Held long-polls and open sockets would keep it open for up to the connect timeout.
    server.closeAllConnections();
  });
}
