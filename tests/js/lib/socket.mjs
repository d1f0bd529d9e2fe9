// A WebSocket client of the hub's JSON protocol for the tests: collects what the hub sends
// (events, and the other answers by arrival) and sends requests that resolve to their answer.
import WebSocket from 'ws';
import { waitFor } from './hub.mjs';

/**
 * Opens a socket on `url` with the npm `ws` client's `options`; resolves once it is open.
 * `negotiated` is the `Sec-WebSocket-Extensions` the hub answered ('' for none).
 */
export async function openSocket(url, options = {}) {
  const socket = new WebSocket(url, options);
  const events = [];
  const answers = [];
  let negotiated = null;
  socket.once('upgrade', (response) => { negotiated = response.headers['sec-websocket-extensions'] ?? ''; });
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString());
    (message.type === 'event' ? events : answers).push(message);
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  /** Sends `message` and resolves to the answer carrying the same ref. */
  let refs = 0;
  const request = async (message) => {
    const ref = `r${++refs}`;
    socket.send(JSON.stringify({ ...message, ref }));
    await waitFor(() => answers.some((a) => a.ref === ref), 5000, `answer to ${message.type}`);
    return answers.find((a) => a.ref === ref);
  };
  return { socket, events, answers, request, negotiated };
}
