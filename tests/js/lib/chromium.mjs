// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or CHROMIUM_PATH), driven
// by playwright-core, with the flags it needs on a machine without outside network.
import fs from 'node:fs';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** A persistent browser context on a fresh profile directory; fails clearly without Chromium. */
export async function launchChromium(profile) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  }
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      // Without these, Chromium's own connections are refused by the closed network, many at a time.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
