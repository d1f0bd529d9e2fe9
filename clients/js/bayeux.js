// Herald's Bayeux extension for CometD and Faye clients: nothing lost across reconnects.
//
//   import { resumeExtension } from 'herald-client/bayeux';
//   const resume = resumeExtension();
//   cometd.registerExtension('herald', resume);   // CometD
//   client.addExtension(resume);                  // Faye
//
// It remembers the id of the last event received and tells the hub, which keeps each session's
// place in its history:
// - on every /meta/connect, so a reply lost with a dropped connection is sent again (what
//   CometD's ack extension does, for Faye too);
// - on /meta/handshake, and on each /meta/subscribe that renews a subscription of the session
//   before, so a client whose session was lost (the hub restarted, or it reached another node)
//   receives exactly what it missed on those channels.
// A token given here is sent in the handshake (`ext.herald.token`), for clients that cannot set
// an Authorization header or cookie. `lastEventId` starts it from an id stored elsewhere (say,
// in sessionStorage across page loads); `resume.lastEventId` is the id to store.

/**
 * @param {{ lastEventId?: string | null, token?: string | null }} [options]
 */
export function resumeExtension({ lastEventId = null, token = null } = {}) {
  // Channels subscribed in the current session, and those of the session before.
  let current = new Set();
  let previous = new Set();
  // The last id when the session was lost: where its renewed subscriptions resume.
  let resumeFrom = null;
  const extension = {
    lastEventId,
    incoming(message, callback) {
      const channel = message.channel;
      if (typeof channel === 'string' && !channel.startsWith('/meta/') && 'data' in message && typeof message.id === 'string') {
        extension.lastEventId = message.id;
      } else if (channel === '/meta/subscribe' && message.successful) {
        for (const c of [].concat(message.subscription)) {
          current.add(c);
          previous.delete(c);
        }
      } else if (channel === '/meta/unsubscribe' && message.successful) {
        for (const c of [].concat(message.subscription)) current.delete(c);
      }
      return callback ? callback(message) : message;
    },
    outgoing(message, callback) {
      const channel = message.channel;
      let herald = null;
      if (channel === '/meta/handshake') {
        previous = new Set([...previous, ...current]);
        current = new Set();
        resumeFrom = extension.lastEventId;
        herald = {};
        if (resumeFrom !== null) herald.lastEventId = resumeFrom;
        if (token !== null) herald.token = token;
      } else if (channel === '/meta/connect') {
        herald = extension.lastEventId === null ? {} : { lastEventId: extension.lastEventId };
      } else if (channel === '/meta/subscribe' && resumeFrom !== null) {
        const renewed = [].concat(message.subscription).every((c) => previous.has(c));
        if (renewed) herald = { lastEventId: resumeFrom };
      }
      if (herald !== null) {
        message.ext = { ...(message.ext || {}), herald };
      }
      return callback ? callback(message) : message;
    },
  };
  return extension;
}
