/** Herald's Bayeux extension for CometD (`registerExtension`) and Faye (`addExtension`) clients. */
export interface ResumeExtension {
  /** The id of the last event received, to store for a later page. */
  lastEventId: string | null;
  incoming(message: object, callback?: (message: object) => void): object | void;
  outgoing(message: object, callback?: (message: object) => void): object | void;
}

/** Makes the extension; `lastEventId` resumes from an id stored elsewhere, `token` is sent in the handshake. */
export function resumeExtension(options?: { lastEventId?: string | null; token?: string | null }): ResumeExtension;
