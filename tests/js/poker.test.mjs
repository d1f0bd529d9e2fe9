// The poker page (/poker) in headless Chromium against the hub's own table: a spectator and a
// player in two independent browsers see the same hand, event for event, the player acting by
// clicking and only ever seeing its own hole cards, the spectator none before the showdown; a
// page opened mid-hand replays the hand so far; a player who reloads, or whose connection drops,
// keeps the seat and misses nothing; and POST /poker/sit refuses a full table and bad requests.
//
// Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH). Screenshots of both pages mid-hand go
// to tests/js/artifacts/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/chromium.mjs';
import { EventSource } from 'eventsource';
import { runCleanups, startHub, startRelay, waitFor } from './lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(here, 'artifacts');
const TEST_TIMEOUT = 60000;
const STORAGE_KEY = 'herald-poker-seat';

const cleanups = [];
after(() => runCleanups(cleanups));

/** A hub running the poker table, bots thinking for `pace`; stopped by `local`'s cleanups. */
async function tableHub(local, pace = '50ms') {
  const hub = await startHub(['--store', 'memory', '--demo-poker-pace', pace], { demo: true });
  local.push(() => hub.stop());
  return hub;
}

/** A browser of its own (a fresh profile), closed and removed by `local`'s cleanups. */
async function browser(local) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-poker-'));
  local.push(() => fs.rmSync(profile, { recursive: true, force: true }));
  const context = await launchChromium(profile);
  local.push(() => context.close());
  return context;
}

/**
 * Installed in a page before its own scripts: records what its DOM shows as it changes. Any
 * `data-card` element added inside a seat, or present in one, while the hand has had no showdown
 * goes to `window.watched.early`; the final pot shown at each hand's end to `window.watched.pots`.
 */
function watchTheDom() {
  const watched = { early: [], pots: {} };
  window.watched = watched;
  const showdownSeen = () => {
    const events = window.poker?.events ?? [];
    for (let i = events.length - 1; i >= 0; i--) {
      if (events[i].kind === 'showdown') return { showdown: true, hand: events[i].data.hand };
      if (events[i].kind === 'hand') return { showdown: false, hand: events[i].data.hand };
    }
    return { showdown: false, hand: null };
  };
  new MutationObserver((records) => {
    const { showdown, hand } = showdownSeen();
    if (!showdown) {
      const added = [];
      for (const record of records) {
        for (const node of record.addedNodes) {
          if (node.nodeType !== 1 || !record.target.closest?.('[data-testid^="seat-"]')) continue;
          for (const card of [node, ...node.querySelectorAll('*')]) {
            if (card.dataset.card) added.push(card.dataset.card);
          }
        }
      }
      const present = [...document.querySelectorAll('[data-testid^="seat-"] [data-card]')].map((c) => c.dataset.card);
      if (added.length > 0 || present.length > 0) watched.early.push({ hand, added, present });
    }
    const pot = document.querySelector('[data-testid="final-pot"]');
    if (pot?.dataset.hand) watched.pots[pot.dataset.hand] = pot.textContent;
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
}

/** The poker page (with `query`) in `context`'s first tab, its errors collected, optionally watched. */
async function openPoker(context, hub, { watch = false, newTab = false, query = '' } = {}) {
  const page = newTab ? await context.newPage() : context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  if (watch) await page.addInitScript(watchTheDom);
  await page.goto(new URL(`/poker${query}`, hub.url).href);
  return { page, errors };
}

const events = (page) => page.evaluate(() => window.poker.events);
const cards = (page) => page.evaluate(() => window.poker.cards);
const testText = (page, id) => page.getByTestId(id).textContent();

/** Waits for `predicate` over the page's events (polled); resolves to the events then. */
async function waitForEvents(page, predicate, ms, what) {
  let seen = [];
  const deadline = Date.now() + ms;
  for (;;) {
    seen = await events(page);
    if (predicate(seen)) return seen;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${seen.length} events seen)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The events from hand `hand`'s `hand` event to its `end`, inclusive (all kinds in between). */
function handSlice(all, hand) {
  const start = all.findIndex((e) => e.kind === 'hand' && e.data.hand === hand);
  const end = all.findIndex((e) => e.kind === 'end' && e.data.hand === hand);
  assert.ok(start !== -1, `hand ${hand} has its hand event`);
  return all.slice(start, end === -1 ? undefined : end + 1);
}

const ended = (all, hand) => all.some((e) => e.kind === 'end' && e.data.hand === hand);

/** Sits down on the page under `name`; resolves to the stored seat ({seat, id, …}). */
async function sitDown(page, name) {
  await page.getByTestId('sit-name').fill(name);
  await page.getByTestId('sit').click();
  await page.getByTestId('seated').filter({ hasText: /^You are seat \d$/ }).waitFor({ timeout: 10000 });
  const stored = await page.evaluate((key) => JSON.parse(sessionStorage.getItem(key)), STORAGE_KEY);
  assert.equal(await testText(page, 'seated'), `You are seat ${stored.seat}`);
  return stored;
}

test('a player and a spectator play a full hand', { timeout: TEST_TIMEOUT }, async () => {
  const local = [];
  try {
    const hub = await tableHub(local);
    const spectator = await openPoker(await browser(local), hub, { watch: true });
    const player = await openPoker(await browser(local), hub, { watch: true });
    for (const { page } of [spectator, player]) {
      await page.getByTestId('transport').filter({ hasText: /^(websocket|sse|ndjson|long-poll|poll)$/ }).waitFor({ timeout: 10000 });
    }
    const me = await sitDown(player.page, 'Ada Lovelace');
    // A player uses its one WebSocket, once it has opened.
    await player.page.getByTestId('transport').filter({ hasText: /^websocket$/ }).waitFor({ timeout: 10000 });
    assert.equal(await testText(player.page, 'transport'), 'websocket', 'a player uses its one WebSocket');

    // From the first hand the seat is the player's, until one where it acted by clicking.
    const mine = (e) => e.kind === 'hand' && e.data.seats[me.seat]?.player_id === me.id;
    const first = (await waitForEvents(player.page, (all) => all.some(mine), 15000, "the player's first hand")).find(mine);
    let hand = first.data.hand;
    let clicked = [];
    let screenshots = false;
    const actionsButton = player.page.locator('[data-testid="actions"] button:is([data-action="check"], [data-action="call"]):enabled');
    for (let tries = 0; ; tries++) {
      assert.ok(tries < 6, 'the player had a turn within six hands');
      clicked = [];
      const deadline = Date.now() + 20000;
      while (!ended(await events(player.page), hand)) {
        assert.ok(Date.now() < deadline, `hand ${hand} ended within 20 s`);
        if ((await actionsButton.count()) === 0) {
          await new Promise((r) => setTimeout(r, 15));
          continue;
        }
        // The player's turn: only legal buttons, its own two cards face up.
        const shown = await player.page.evaluate(() => ({
          actions: [...document.querySelectorAll('[data-testid="actions"] button')].map((b) => b.dataset.action),
          mine: [...document.querySelectorAll('[data-testid="my-cards"] [data-card]')].map((c) => c.dataset.card),
          turn: window.poker.events.findLast((e) => e.kind === 'turn'),
        }));
        assert.equal(shown.turn.data.seat, me.seat);
        const { legal } = shown.turn.data;
        assert.deepEqual(shown.actions, ['fold', legal.can_check ? 'check' : 'call', ...(legal.can_raise ? ['raise'] : [])]);
        assert.equal(shown.mine.length, 2, 'the player sees its two cards on its turn');
        if (!screenshots) {
          fs.mkdirSync(ARTIFACTS, { recursive: true });
          await spectator.page.screenshot({ path: path.join(ARTIFACTS, 'poker-spectator.png'), fullPage: true });
          await player.page.screenshot({ path: path.join(ARTIFACTS, 'poker-player.png'), fullPage: true });
          screenshots = true;
        }
        const action = await actionsButton.first().getAttribute('data-action');
        await actionsButton.first().click();
        // One click per turn: the page disables the buttons until the dealer answers.
        clicked.push({ turn: shown.turn.id, action });
      }
      if (clicked.length > 0) break;
      hand += 1; // everybody folded to the player's big blind: no turn this hand
    }

    const spectatorAll = await waitForEvents(spectator.page, (all) => ended(all, hand), 10000, `the spectator to see hand ${hand} end`);
    const playerAll = await events(player.page);
    const seenBySpectator = handSlice(spectatorAll, hand);
    const seenByPlayer = handSlice(playerAll, hand);
    assert.equal(seenByPlayer.at(-1).kind, 'end');
    assert.deepEqual(seenBySpectator.map((e) => e.id), seenByPlayer.map((e) => e.id), 'the same events, in the same order');
    assert.deepEqual(seenBySpectator.map((e) => e.kind), seenByPlayer.map((e) => e.kind));
    assert.equal(new Set(seenBySpectator.map((e) => e.id)).size, seenBySpectator.length, 'each event once');
    for (const { page } of [spectator, player]) {
      assert.equal(await page.evaluate(() => window.poker.duplicates), 0, 'no event delivered twice');
    }

    // Each click was answered by an action of the player's seat, right after its turn, which the
    // spectator's log shows as that seat's.
    const myActions = seenByPlayer.filter((e) => e.kind === 'action' && e.data.seat === me.seat);
    assert.ok(myActions.length >= clicked.length, `${myActions.length} actions for ${clicked.length} clicks`);
    for (const { turn, action } of clicked) {
      const at = seenByPlayer.findIndex((e) => e.id === turn);
      const answer = seenByPlayer.slice(at + 1).find((e) => e.kind === 'action');
      assert.equal(answer.data.seat, me.seat, 'the turn was answered by the player');
      assert.equal(answer.data.name, 'Ada Lovelace');
      // A call when nothing is to call is a check.
      assert.ok(answer.data.action === action || (action === 'call' && answer.data.action === 'check'), `${action} → ${answer.data.action}`);
    }
    const logged = await spectator.page.evaluate((ids) => ids.map((id) => {
      const line = document.querySelector(`[data-testid="log"] > [data-id="${CSS.escape(id)}"]`);
      return line && { kind: line.dataset.kind, text: line.textContent };
    }), myActions.map((e) => e.id));
    for (const [i, line] of logged.entries()) {
      assert.ok(line, `the spectator's log has the player's action ${myActions[i].id}`);
      assert.equal(line.kind, 'action');
      assert.match(line.text, /Ada Lovelace (folds|checks|calls \d+|bets \d+|raises \d+)/);
    }

    // Hole cards: the player got its own, for its seat only; the spectator none, and showed none
    // before the showdown.
    const spectatorCards = await cards(spectator.page);
    assert.deepEqual(spectatorCards, [], 'the spectator never received a cards event');
    const early = await spectator.page.evaluate(() => window.watched.early);
    assert.deepEqual(early, [], 'the spectator rendered no card in a seat before a showdown');
    const playerCards = await cards(player.page);
    assert.ok(playerCards.every((c) => c.data.seat === me.seat), 'only the seat’s own cards');
    const dealt = playerCards.filter((c) => c.data.hand === hand);
    assert.equal(dealt.length, 1, 'one cards event for the hand');
    assert.equal(dealt[0].data.cards.length, 2);
    for (const card of dealt[0].data.cards) assert.match(card, /^[2-9TJQKA][cdhs]$/);
    const showdown = seenBySpectator.find((e) => e.kind === 'showdown');
    if (showdown) {
      const shownMine = showdown.data.hands.find((h) => h.seat === me.seat);
      if (shownMine) assert.deepEqual(shownMine.cards, dealt[0].data.cards, 'the showdown shows the cards dealt');
    }

    // The final pot: what both pages showed at the hand's end, the end event's, the sum won.
    const end = seenByPlayer.at(-1);
    const won = seenByPlayer.filter((e) => e.kind === 'won').reduce((sum, e) => sum + e.data.amount, 0);
    assert.equal(end.data.pot, won, 'the pot is what was won');
    const spectatorPot = await spectator.page.evaluate((h) => window.watched.pots[h], String(hand));
    const playerPot = await player.page.evaluate((h) => window.watched.pots[h], String(hand));
    assert.match(spectatorPot, /^\d+$/);
    assert.equal(spectatorPot, playerPot, 'both pages showed the same final pot');
    assert.equal(Number(spectatorPot), end.data.pot);

    // The rest of the page's hooks.
    assert.match(await testText(spectator.page, 'pot'), /^\d+$/);
    assert.match(await testText(spectator.page, 'spectators'), /^\d+$/);
    assert.match(await testText(spectator.page, 'hand-number'), /^\d+$/);
    assert.equal(await spectator.page.getByTestId('seated').isVisible(), false);
    assert.equal(await spectator.page.locator('[data-testid="actions"] button').count(), 0, 'a spectator has no buttons');
    assert.deepEqual([...spectator.errors, ...player.errors], []);
  } finally {
    await runCleanups(local);
  }
});

test('a page opened mid-hand replays the hand so far', { timeout: TEST_TIMEOUT }, async () => {
  const local = [];
  try {
    // Bots slow enough that a hand outlasts opening a page.
    const hub = await tableHub(local, '250ms');
    const context = await browser(local);
    const first = await openPoker(context, hub);
    const midHand = (all) => {
      const start = all.findLastIndex((e) => e.kind === 'hand');
      if (start === -1) return false;
      const since = all.slice(start);
      return since.filter((e) => e.kind === 'action').length >= 3 && !since.some((e) => e.kind === 'end');
    };
    const before = await waitForEvents(first.page, midHand, 20000, 'a hand with three actions');
    const hand = before.findLast((e) => e.kind === 'hand').data.hand;
    const playedBefore = handSlice(before, hand).map((e) => e.id);

    // Over Server-Sent Events this time, which need a listener per event type.
    const second = await openPoker(context, hub, { newTab: true, query: '?transport=sse' });
    const secondAll = await waitForEvents(second.page, (all) => ended(all, hand), 20000, `the second page to see hand ${hand} end`);
    const firstAll = await waitForEvents(first.page, (all) => ended(all, hand), 5000, `the first page to see hand ${hand} end`);
    const replayed = secondAll.filter((e) => e.data.hand === hand);
    assert.equal(replayed[0].kind, 'hand', "the second page's hand starts with its hand event");
    assert.equal(secondAll.find((e) => e.data.hand !== undefined).data.hand, hand, 'nothing older is replayed');
    assert.deepEqual(handSlice(secondAll, hand).map((e) => e.id), handSlice(firstAll, hand).map((e) => e.id), 'the same events, in the same order');
    assert.deepEqual(handSlice(secondAll, hand).slice(0, playedBefore.length).map((e) => e.id), playedBefore, 'what was played before it opened included');
    // The replayed actions are drawn: in the log, under their ids.
    const logged = await second.page.evaluate((ids) => ids.filter((id) => document.querySelector(`[data-testid="log"] > [data-id="${CSS.escape(id)}"]`)), playedBefore);
    const loggable = handSlice(before, hand).filter((e) => e.kind !== 'turn' && e.kind !== 'spectators').map((e) => e.id);
    assert.deepEqual(logged.filter((id) => loggable.includes(id)), loggable);
    assert.equal(await second.page.evaluate(() => window.poker.duplicates), 0);
    assert.equal(await testText(second.page, 'transport'), 'sse');
    // The hand shown is the newest received (read together: the bots keep playing meanwhile).
    const [shown, newest] = await second.page.evaluate(() => [
      document.querySelector('[data-testid="hand-number"]').textContent.trim(),
      String(window.poker.events.findLast((e) => e.kind === 'hand').data.hand),
    ]);
    assert.equal(shown, newest);
    assert.deepEqual([...first.errors, ...second.errors], []);
  } finally {
    await runCleanups(local);
  }
});

/**
 * Folds on the page whenever it is the player's turn, so that hands go on at the bots' pace
 * rather than waiting out the turn timer; resolves, once stopped, to the number of folds.
 */
function foldWhenAsked(page) {
  let running = true;
  let folds = 0;
  const fold = page.locator('[data-testid="actions"] button[data-action="fold"]:enabled');
  const done = (async () => {
    while (running) {
      try {
        if ((await fold.count()) > 0) {
          await fold.first().click({ timeout: 1000 });
          folds += 1;
        }
      } catch {
        // the page was reloading, or the turn ended meanwhile
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return folds;
  })();
  return () => {
    running = false;
    return done;
  };
}

test('a player who reloads keeps the seat', { timeout: TEST_TIMEOUT }, async () => {
  const local = [];
  try {
    const hub = await tableHub(local);
    // Every table event, recorded straight from the hub, to check the page's against.
    const recorded = [];
    const direct = new URL(hub.hubUrl);
    direct.searchParams.set('topic', '/demo/poker/table');
    direct.searchParams.set('last_event_id', 'earliest');
    const recorder = new EventSource(direct);
    local.push(() => recorder.close());
    for (const kind of ['table', 'hand', 'blind', 'dealt', 'turn', 'action', 'board', 'showdown', 'won', 'end', 'seated', 'spectators']) {
      recorder.addEventListener(kind, (e) => recorded.push({ id: e.lastEventId, kind }));
    }
    // The page reaches the hub through a relay whose connections the test can cut.
    const relay = await startRelay(hub.url);
    local.push(() => relay.close());
    const { page, errors } = await openPoker(await browser(local), { url: relay.url });
    await page.getByTestId('transport').filter({ hasText: /^\w/ }).waitFor({ timeout: 10000 });
    const me = await sitDown(page, 'Grace Hopper');
    const stopFolding = foldWhenAsked(page);
    local.push(stopFolding);
    const tableNow = async () => (await fetch(new URL('/poker/table', hub.url))).json();

    // Reloaded while the seat is still joining, then again while it is played: the same seat,
    // and cards for a hand after the reload.
    for (const when of ['joining', 'playing']) {
      if (when === 'playing') {
        let table;
        const deadline = Date.now() + 10000;
        while ((table = await tableNow()).seats[me.seat].player_id !== me.id) {
          assert.ok(Date.now() < deadline, 'the seat became the player’s');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const { hand } = await tableNow();
      await page.reload();
      await page.getByTestId('seated').filter({ hasText: `You are seat ${me.seat}` }).waitFor({ timeout: 10000 });
      await page.getByTestId('transport').filter({ hasText: 'websocket' }).waitFor({ timeout: 10000 });
      const stored = await page.evaluate((key) => JSON.parse(sessionStorage.getItem(key)), STORAGE_KEY);
      assert.equal(stored.id, me.id, `the same player after a reload while ${when}`);
      assert.equal(stored.seat, me.seat);
      const deadline = Date.now() + 15000;
      let later;
      while (!(later = (await cards(page)).find((c) => c.data.hand > hand))) {
        assert.ok(Date.now() < deadline, `cards for a hand after the reload while ${when}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(later.data.seat, me.seat);
      assert.equal(later.data.cards.length, 2);
      await page.locator('[data-testid="my-cards"] [data-card]').nth(1).waitFor({ timeout: 5000 });
    }

    // A dropped connection: the page opens a new WebSocket by itself, after a short wait, and
    // resumes after the last event it saw: nothing missed, nothing twice, the seat kept.
    const upgrades = () => relay.requests.filter((head) => /^upgrade:\s*websocket/im.test(head)).length;
    const opened = upgrades();
    relay.cut();
    await waitFor(() => upgrades() > opened, 10000, 'the page to open a new WebSocket');
    await page.getByTestId('transport').filter({ hasText: 'websocket' }).waitFor({ timeout: 10000 });
    const { hand } = await tableNow();
    const deadline = Date.now() + 15000;
    while (!(await cards(page)).some((c) => c.data.hand > hand)) {
      assert.ok(Date.now() < deadline, 'cards for a hand after the drop');
      await new Promise((r) => setTimeout(r, 20));
    }
    const ids = (await events(page)).map((e) => e.id);
    await waitFor(() => recorded.some((e) => e.id === ids.at(-1)), 5000, 'the recording to catch up with the page');
    const from = recorded.findIndex((e) => e.id === ids[0]);
    assert.ok(from !== -1, 'the page replayed from an event the hub published');
    assert.deepEqual(ids, recorded.slice(from, from + ids.length).map((e) => e.id), 'the same events as the hub published, across the drop');
    assert.equal(await page.evaluate(() => window.poker.duplicates), 0);
    assert.equal(await testText(page, 'seated'), `You are seat ${me.seat}`);

    // A stored seat the table no longer gives to this player is forgotten: a spectator again.
    await page.evaluate(([key, seat]) => sessionStorage.setItem(key, JSON.stringify({ ...seat, id: 'not-mine' })), [STORAGE_KEY, me]);
    await page.reload();
    await page.getByTestId('sit').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page.getByTestId('seated').isVisible(), false);
    assert.equal(await page.evaluate((key) => sessionStorage.getItem(key), STORAGE_KEY), null);
    await waitForEvents(page, (all) => all.some((e) => e.kind === 'hand'), 10000, 'events as a spectator');
    assert.deepEqual(errors, []);
  } finally {
    await runCleanups(local);
  }
});

test('sitting down refused when full / bad input', { timeout: TEST_TIMEOUT }, async () => {
  const local = [];
  try {
    const hub = await tableHub(local);
    const sit = (body, type = 'application/json') =>
      fetch(new URL('/poker/sit', hub.url), { method: 'POST', headers: { 'content-type': type }, body });
    const seats = [];
    for (let i = 0; i < 6; i++) {
      const response = await sit(JSON.stringify({ name: `Player ${i}` }));
      assert.equal(response.status, 200);
      const sitting = await response.json();
      assert.equal(sitting.name, `Player ${i}`);
      assert.equal(sitting.seat_topic, `/demo/poker/seats/${sitting.seat}/${sitting.id}`);
      assert.equal(sitting.actions_topic, `/demo/poker/seats/${sitting.seat}/${sitting.id}/actions`);
      assert.ok(sitting.token && sitting.secret && sitting.id);
      seats.push(sitting.seat);
    }
    assert.deepEqual(seats.sort(), [0, 1, 2, 3, 4, 5]);

    const full = await sit(JSON.stringify({ name: 'Late' }));
    assert.equal(full.status, 409);
    assert.match(full.headers.get('content-type'), /^text\/plain/);
    assert.match(await full.text(), /every seat is taken/);

    const notJson = await sit('name=Bob');
    assert.equal(notJson.status, 400);
    assert.match(await notJson.text(), /not JSON/);

    const large = await sit(JSON.stringify({ name: 'x'.repeat(2048) }));
    assert.equal(large.status, 413);
    assert.match(await large.text(), /at most 1 KiB/);
  } finally {
    await runCleanups(local);
  }
});
