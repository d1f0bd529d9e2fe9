// Types of the Herald JavaScript client (herald.js).

/** A transport the client can use, by name. */
export type TransportName = 'websocket' | 'sse' | 'ndjson' | 'long-poll' | 'poll';

/** The transports, in the default order of preference. */
export const TRANSPORTS: readonly TransportName[];

export interface HeraldEventSourceInit {
  /** Topics to receive, matched exactly (the hub's `match` parameter). */
  match?: string | readonly string[];
  /** URL Patterns of topics to receive (`match_urlpattern`), e.g. `/books/:id`. */
  matchUrlPattern?: string | readonly string[];
  /** Topics or RFC 6570 URI templates (the Mercure 0.x `topic` parameter), e.g. `/books/{id}`. */
  topic?: string | readonly string[];
  /**
   * The transports to try, in order; the first that opens is used, and the next is tried when
   * one cannot be opened. Default: all of {@link TRANSPORTS}, in that order.
   */
  transports?: readonly TransportName[];
  /** Send cookies (and HTTP authentication) to a hub on another origin. Default false. */
  withCredentials?: boolean;
  /** Resume after this event id (or `earliest` for all history) instead of starting live. */
  lastEventId?: string;
  /**
   * Milliseconds before reconnecting after a connection drops (growing by half with each failure
   * in a row, up to 30 s), and between two polls of the `poll` transport. Default 1000.
   */
  retry?: number;
  /** Milliseconds a transport may take to open before the next one is tried. Default 10000. */
  openTimeout?: number;
  /**
   * Event types to receive over Server-Sent Events besides `message` and the types that
   * listeners are added for (the browser's EventSource dispatches only the types listened for).
   */
  types?: string | readonly string[];
  /**
   * The WebSocket class for the `websocket` transport: one with the standard interface (`onopen`,
   * `onmessage`, `onerror`, `onclose`, `send`, `close`), constructed with the hub's `ws:` or
   * `wss:` URL, e.g. `WebSocket` from the `ws` package in Node.js 20, which has none of its own.
   * Default: the global `WebSocket` (none: the transport is skipped).
   */
  WebSocket?: new (url: string) => unknown;
  /**
   * The EventSource class for the `sse` transport: one with the standard interface, constructed
   * with the subscription URL and `{ withCredentials }`, e.g. `EventSource` from the
   * `eventsource` package in Node.js. Default: the global `EventSource` as it was when the module
   * loaded (none: the transport is skipped).
   */
  EventSource?: new (url: string, init?: { withCredentials?: boolean }) => unknown;
}

export interface HeraldEventSourceEventMap {
  open: Event;
  message: MessageEvent<string>;
  error: Event;
}

/**
 * An `EventSource` for a Herald hub that uses whichever transport works: WebSocket, Server-Sent
 * Events, NDJSON streaming, long-polling or polling. It reconnects by itself and always resumes
 * after the last event received, so events arrive in order, each once. Events published with a
 * type are dispatched as `MessageEvent`s of that type, the others as `message`.
 */
export class EventSource extends EventTarget {
  /**
   * @param hubUrl the hub's `/.well-known/mercure` URL, absolute or relative to the page; its
   *   `match`, `match_exact`, `match_urlpattern`, `topic` and `last_event_id` query parameters
   *   are used along with the options.
   */
  constructor(hubUrl: string | URL, options?: HeraldEventSourceInit);

  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSED: 2;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 2;

  /** The hub URL given to the constructor, resolved. */
  readonly url: string;
  /** CONNECTING while (re)connecting, OPEN while connected, CLOSED after `close()`. */
  readonly readyState: 0 | 1 | 2;
  readonly withCredentials: boolean;
  /** The id of the last event received (or the id given to resume from); '' before any. */
  readonly lastEventId: string;
  /** The transport in use (while OPEN) or being tried (while CONNECTING). */
  readonly transport: TransportName;
  /** The transports tried, in order. */
  readonly transports: readonly TransportName[];

  onopen: ((this: EventSource, event: Event) => unknown) | null;
  onmessage: ((this: EventSource, event: MessageEvent<string>) => unknown) | null;
  onerror: ((this: EventSource, event: Event) => unknown) | null;

  addEventListener<K extends keyof HeraldEventSourceEventMap>(
    type: K,
    listener: (this: EventSource, event: HeraldEventSourceEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Events published with `type=<type>`. */
  addEventListener(
    type: string,
    listener: (this: EventSource, event: MessageEvent<string>) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof HeraldEventSourceEventMap>(
    type: K,
    listener: (this: EventSource, event: HeraldEventSourceEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;

  /** Closes the connection for good; no event is dispatched after this. */
  close(): void;
}

/**
 * `<event-source src="/.well-known/mercure?match=…" transports="websocket sse">`: subscribes
 * while it is in the document and dispatches each event received on itself, as a bubbling
 * `MessageEvent` of the event's type; `open` and `error` (not bubbling) as the connection goes.
 * Attributes: `src`, `transports` (space-separated names), `with-credentials`, `retry` (ms),
 * `events` (space-separated event types to receive over SSE besides `message` and the types
 * listened for on the element itself). Removed from the document it disconnects; put back, it
 * resumes after the last event it received.
 */
export class EventSourceElement extends HTMLElement {
  static readonly observedAttributes: string[];
  /** The Herald EventSource while the element is in the document, else null. */
  readonly source: EventSource | null;
  readonly readyState: 0 | 1 | 2;
  readonly lastEventId: string;
  readonly transport: TransportName | null;
  /** The `src` attribute, resolved against the document ('' when absent). */
  src: string;
  /** The `with-credentials` attribute. */
  withCredentials: boolean;
}

declare global {
  interface HTMLElementTagNameMap {
    'event-source': EventSourceElement;
  }
}
