//! The table: its seats, and the dealer that plays hands on the hub.
//!
//! Everything the table says is an event: public ones on [`TABLE_TOPIC`] (typed `hand`,
//! `blind`, `dealt`, `turn`, `action`, `board`, `showdown`, `won`, `end`, `seated`,
//! `spectators`), each player's hole cards as a private `cards` update on its seat's topic
//! ([`seat_topic`], one per player who sits there, so an earlier player's token reads nothing of
//! a later one's), readable only with the token the table minted for that player. Players act by
//! publishing a private update on their actions topic ([`actions_topic`]) over the
//! WebSocket; [`follow_actions`] hands those to the dealer. A seat nobody holds is played by a
//! bot, so the table plays by itself; a player whose connection is gone for [`ABSENT`] gives the
//! seat back to a bot, and one who comes back sooner keeps it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use herald_core::{Matcher, ReadAccess, Update};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::game::{Action, Hand, Limits, Step, Street};
use super::{bot, cards};
use crate::auth::demo::DemoKey;
use crate::AppState;

/// The table's public events.
pub(crate) const TABLE_TOPIC: &str = "/demo/poker/table";
/// Seats at the table.
pub(crate) const SEATS: usize = 6;
/// The blinds (fixed limit: bets of 10 before the turn, 20 after).
const LIMITS: Limits = Limits { small_blind: 5, big_blind: 10 };
/// The chips a new player, or a bot that ran short, sits down with.
const BUY_IN: u64 = 1_000;
/// How long a player has to act before the dealer checks or folds for them.
pub(crate) const TURN: Duration = Duration::from_secs(15);
/// How long a player may be disconnected before a bot takes the seat back.
pub(crate) const ABSENT: Duration = Duration::from_secs(30);
/// How long a seat token lasts.
const TOKEN_SECS: u64 = 12 * 3600;
const BOT_NAMES: [&str; SEATS] = ["Ada", "Blaise", "Grace", "Alan", "Edsger", "Barbara"];

/// The private topic of the hole cards of the player `player` (its public id) at `seat`.
pub(crate) fn seat_topic(seat: usize, player: &str) -> String {
    format!("/demo/poker/seats/{seat}/{player}")
}

/// The private topic that player publishes its actions on.
pub(crate) fn actions_topic(seat: usize, player: &str) -> String {
    format!("/demo/poker/seats/{seat}/{player}/actions")
}

/// The table, shared by the dealer and the HTTP handlers.
pub(crate) struct Table {
    inner: Mutex<Inner>,
    key: Arc<DemoKey>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("hand", &self.inner.lock().hand).finish_non_exhaustive()
    }
}

struct Inner {
    seats: Vec<Seat>,
    /// The hand being played (0 before the first).
    hand: u64,
    button: usize,
    /// The id of the last event before the current hand's `hand` event: replaying after it
    /// gives the hand so far.
    since: Option<Arc<str>>,
    /// The id of the newest event the table published.
    last_id: Option<Arc<str>>,
    spectators: usize,
}

struct Seat {
    stack: u64,
    /// Who plays it; a bot when nobody.
    player: Option<Player>,
    /// Who sat down during the hand, to play from the next one.
    joining: Option<Player>,
}

#[derive(Clone)]
struct Player {
    /// Public: pages tell by it whether the seat they hold is still theirs.
    id: String,
    /// Private: proves an action comes from the player.
    secret: String,
    name: String,
    absent_since: Option<Instant>,
}

/// What a player who sat down is given.
#[derive(Debug, Serialize)]
pub(crate) struct Sitting {
    pub seat: usize,
    pub id: String,
    pub secret: String,
    pub name: String,
    /// Reads the seat's hole cards and publishes its actions (`authorization` query parameter).
    pub token: String,
    pub seat_topic: String,
    pub actions_topic: String,
}

/// Why nobody can sit down.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SitError {
    #[error("every seat is taken by a player; watch, or come back later")]
    Full,
    #[error("the seat's token or secret could not be made")]
    NoToken,
}

/// An action a player published.
#[derive(Debug)]
pub(crate) struct PlayerAction {
    seat: usize,
    hand: u64,
    secret: String,
    action: Action,
    /// When it arrived: an action sent before the turn began (a double click, a retry) is not
    /// played on it.
    received: Instant,
}

#[derive(Deserialize)]
struct ActionMessage {
    action: Action,
    hand: u64,
    secret: String,
}

impl Table {
    pub(crate) fn new(key: Arc<DemoKey>) -> Arc<Self> {
        let seats = (0..SEATS).map(|_| Seat { stack: BUY_IN, player: None, joining: None }).collect();
        Arc::new(Self {
            inner: Mutex::new(Inner { seats, hand: 0, button: 0, since: None, last_id: None, spectators: 0 }),
            key,
        })
    }

    /// Gives `name` a seat that a bot plays, from the next hand.
    pub(crate) fn sit(&self, name: &str) -> Result<Sitting, SitError> {
        let mut inner = self.inner.lock();
        let seat = inner.seats.iter().position(|s| s.player.is_none() && s.joining.is_none()).ok_or(SitError::Full)?;
        let name = clean_name(name).unwrap_or_else(|| format!("Player {}", seat + 1));
        let (Some(id), Some(secret)) = (crate::random::hex(8), crate::random::hex(16)) else {
            return Err(SitError::NoToken);
        };
        let player = Player { id, secret, name: name.clone(), absent_since: None };
        let (seat_topic, actions_topic) = (seat_topic(seat, &player.id), actions_topic(seat, &player.id));
        let token = self
            .key
            .mint(
                &format!("poker-seat-{seat}"),
                std::slice::from_ref(&seat_topic),
                std::slice::from_ref(&actions_topic),
                TOKEN_SECS,
            )
            .ok_or(SitError::NoToken)?;
        let sitting = Sitting {
            seat,
            id: player.id.clone(),
            secret: player.secret.clone(),
            name,
            token,
            seat_topic,
            actions_topic,
        };
        inner.seats[seat].joining = Some(player);
        Ok(sitting)
    }

    /// The table now, as `GET /poker/table` answers it.
    pub(crate) fn snapshot(&self) -> Value {
        let inner = self.inner.lock();
        json!({
            "hand": inner.hand,
            "since": inner.since.as_deref(),
            "seats": inner.seats_json(),
            "spectators": inner.spectators,
            "table_topic": TABLE_TOPIC,
            "turn_ms": TURN.as_millis() as u64,
        })
    }
}

impl Inner {
    fn seats_json(&self) -> Vec<Value> {
        self.seats
            .iter()
            .enumerate()
            .map(|(i, seat)| {
                json!({
                    "seat": i,
                    "name": seat.name(i),
                    "stack": seat.stack,
                    "bot": seat.player.is_none(),
                    "player_id": seat.player.as_ref().map(|p| p.id.clone()),
                    "joining": seat.joining.as_ref().map(|p| json!({"id": p.id, "name": p.name})),
                })
            })
            .collect()
    }
}

impl Seat {
    fn name(&self, index: usize) -> String {
        match &self.player {
            Some(player) => player.name.clone(),
            None => format!("{} (bot)", BOT_NAMES[index % BOT_NAMES.len()]),
        }
    }
}

/// A display name: printable, trimmed, at most 20 characters.
fn clean_name(name: &str) -> Option<String> {
    let name: String = name.chars().filter(|c| !c.is_control()).take(20).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Starts the table's tasks. Must be called inside a Tokio runtime.
pub(crate) fn start(state: &AppState, table: Arc<Table>, pace: Duration) {
    let (actions, received) = mpsc::channel(64);
    tokio::spawn(follow_actions(state.clone(), actions));
    tokio::spawn(count_spectators(state.clone(), table.clone()));
    tokio::spawn(Dealer { state: state.clone(), table, actions: received, pace, rng: fastrand::Rng::new() }.run());
}

/// Hands the players' actions to the dealer.
async fn follow_actions(state: AppState, actions: mpsc::Sender<PlayerAction>) {
    let template = "/demo/poker/seats/{seat}/{player}/actions";
    loop {
        let (Ok(selecting), Ok(reading)) = (Matcher::legacy_topic(template), Matcher::legacy_topic(template)) else {
            return;
        };
        if let Ok(mut subscription) =
            state.hub.subscribe(vec![selecting], ReadAccess::with_private(vec![reading]), None).await
        {
            while let Ok(event) = subscription.recv().await {
                let seat = event.topics.iter().find_map(|t| {
                    let (seat, _player) =
                        t.strip_prefix("/demo/poker/seats/")?.strip_suffix("/actions")?.split_once('/')?;
                    seat.parse::<usize>().ok()
                });
                let (Some(seat), Ok(message)) = (seat, serde_json::from_str::<ActionMessage>(&event.data)) else {
                    continue;
                };
                let action = PlayerAction {
                    seat,
                    hand: message.hand,
                    secret: message.secret,
                    action: message.action,
                    received: Instant::now(),
                };
                // A full queue means a flood; the dealer needs one action per turn.
                let _ = actions.try_send(action);
            }
        }
        if state.hub.is_draining() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Publishes the number of watchers of the table when it changes (from presence when the hub
/// tracks subscriptions, else the subscribers naming the topic).
async fn count_spectators(state: AppState, table: Arc<Table>) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    while !state.hub.is_draining() {
        every.tick().await;
        let count = match &state.presence {
            Some(presence) => ["exact", "topic"]
                .into_iter()
                .map(|match_type| {
                    presence.count(&crate::presence::MatcherKey { match_type, value: TABLE_TOPIC.into() })
                })
                .sum(),
            None => state.hub.subscribers_naming(TABLE_TOPIC),
        };
        let changed = {
            let mut inner = table.inner.lock();
            std::mem::replace(&mut inner.spectators, count) != count
        };
        if changed {
            announce(&state, &table, "spectators", json!({ "count": count })).await;
        }
    }
}

/// Publishes a public table event; returns its id.
async fn announce(state: &AppState, table: &Table, kind: &str, data: Value) -> Option<Arc<str>> {
    let update = Update {
        topics: vec![TABLE_TOPIC.to_owned()],
        data: data.to_string(),
        event_type: Some(kind.to_owned()),
        ..Update::default()
    };
    match state.hub.publish(update).await {
        Ok(event) => {
            table.inner.lock().last_id = Some(event.id.clone());
            Some(event.id.clone())
        }
        Err(e) => {
            tracing::debug!("poker table: {kind} not published: {e}");
            None
        }
    }
}

/// Tells the table that someone sat down (they play from the next hand).
pub(crate) async fn announce_seated(state: &AppState, table: &Table, sitting: &Sitting) {
    let data = json!({ "seat": sitting.seat, "name": sitting.name, "player_id": sitting.id });
    announce(state, table, "seated", data).await;
}

struct Dealer {
    state: AppState,
    table: Arc<Table>,
    actions: mpsc::Receiver<PlayerAction>,
    /// How long bots think.
    pace: Duration,
    rng: fastrand::Rng,
}

impl Dealer {
    async fn run(mut self) {
        announce(
            &self.state,
            &self.table,
            "table",
            json!({ "seats": SEATS, "limits": [LIMITS.big_blind, 2 * LIMITS.big_blind] }),
        )
        .await;
        while !self.state.hub.is_draining() {
            self.play_hand().await;
            tokio::time::sleep((self.pace * 4).max(Duration::from_millis(20))).await;
        }
    }

    /// Seats who joined, frees the seats of players gone too long, tops up short stacks, moves
    /// the button; returns the hand's number, the stacks and the players' secrets.
    fn begin_hand(&mut self) -> (u64, usize, Vec<Option<u64>>, Vec<Option<String>>, Value) {
        let hub = &self.state.hub;
        let mut inner = self.table.inner.lock();
        let now = Instant::now();
        for (i, seat) in inner.seats.iter_mut().enumerate() {
            if let Some(player) = &mut seat.player {
                // Present: a subscription that may read the player's cards names their topic.
                if hub.readers_naming(&seat_topic(i, &player.id)) > 0 {
                    player.absent_since = None;
                } else if now.saturating_duration_since(*player.absent_since.get_or_insert(now)) >= ABSENT {
                    seat.player = None;
                    seat.stack = BUY_IN;
                }
            }
            if let Some(joining) = seat.joining.take() {
                seat.player = Some(joining);
                seat.stack = BUY_IN;
            }
            if seat.stack < LIMITS.max_commitment() {
                seat.stack = BUY_IN;
            }
        }
        inner.hand += 1;
        inner.button = (inner.button + 1) % SEATS;
        inner.since = inner.last_id.clone();
        let stacks = inner.seats.iter().map(|s| Some(s.stack)).collect();
        let secrets = inner.seats.iter().map(|s| s.player.as_ref().map(|p| p.secret.clone())).collect();
        let data = json!({
            "hand": inner.hand,
            "button": inner.button,
            "seats": inner.seats_json(),
            "blinds": [LIMITS.small_blind, LIMITS.big_blind],
            "spectators": inner.spectators,
        });
        (inner.hand, inner.button, stacks, secrets, data)
    }

    async fn play_hand(&mut self) {
        let (number, button, stacks, secrets, start) = self.begin_hand();
        announce(&self.state, &self.table, "hand", start).await;
        let deck = cards::shuffled_deck(&mut self.rng);
        let (mut hand, steps) = match Hand::start(&stacks, button, LIMITS, deck) {
            Ok(started) => started,
            Err(e) => {
                tracing::warn!("poker table: hand {number} not started: {e}");
                return;
            }
        };
        let mut pot = 0;
        self.publish_steps(number, &hand, hand.street(), &steps, &mut pot).await;
        announce(&self.state, &self.table, "dealt", json!({ "hand": number })).await;
        while let Some(seat) = hand.to_act() {
            let Some(legal) = hand.legal() else { break };
            let deadline = Instant::now() + TURN;
            let turn = json!({
                "hand": number,
                "seat": seat,
                "street": hand.street(),
                "legal": legal,
                "pot": pot,
                "deadline_ms": now_ms() + TURN.as_millis() as u64,
            });
            announce(&self.state, &self.table, "turn", turn).await;
            let street = hand.street();
            let steps = match &secrets[seat] {
                None => self.bot_turn(&mut hand, seat).await,
                Some(secret) => self.player_turn(&mut hand, number, seat, secret, deadline).await,
            };
            self.publish_steps(number, &hand, street, &steps, &mut pot).await;
        }
        let stacks: Vec<u64> = hand.stacks().into_iter().map(|s| s.unwrap_or(0)).collect();
        {
            let mut inner = self.table.inner.lock();
            for (seat, stack) in inner.seats.iter_mut().zip(&stacks) {
                seat.stack = *stack;
            }
        }
        announce(&self.state, &self.table, "end", json!({ "hand": number, "pot": pot, "stacks": stacks })).await;
    }

    async fn bot_turn(&mut self, hand: &mut Hand, seat: usize) -> Vec<Step> {
        let think = self.pace.mul_f64(0.5 + self.rng.f64());
        tokio::time::sleep(think).await;
        let players_in = (0..SEATS).filter(|&s| hand.in_hand(s)).count();
        let action = match (hand.hole_cards(seat), hand.legal()) {
            (Some(hole), Some(legal)) => bot::decide(hole, hand.board(), &legal, players_in, &mut self.rng),
            _ => hand.timeout_action(),
        };
        self.act(hand, seat, action)
    }

    /// Waits for the player's legal action until `deadline`, then acts for them.
    async fn player_turn(
        &mut self,
        hand: &mut Hand,
        number: u64,
        seat: usize,
        secret: &str,
        deadline: Instant,
    ) -> Vec<Step> {
        let began = deadline.checked_sub(TURN).unwrap_or(deadline);
        loop {
            let received = tokio::time::timeout_at(deadline.into(), self.actions.recv()).await;
            let Ok(Some(action)) = received else {
                let timeout = hand.timeout_action();
                return self.act(hand, seat, timeout);
            };
            let stale = action.received < began;
            if stale || action.seat != seat || action.hand != number || action.secret != secret {
                continue;
            }
            if let Ok(steps) = hand.act(seat, action.action) {
                return steps;
            }
        }
    }

    fn act(&self, hand: &mut Hand, seat: usize, action: Action) -> Vec<Step> {
        match hand.act(seat, action) {
            Ok(steps) => steps,
            Err(e) => {
                // Never expected: the action was chosen among the legal ones. Folding ends the turn.
                tracing::warn!("poker table: seat {seat} could not {action:?} ({e}); folding");
                hand.act(seat, Action::Fold).unwrap_or_default()
            }
        }
    }

    /// Publishes what happened: public events for all, hole cards privately to players; `pot`
    /// counts the chips put in; actions were taken on `acted_on`.
    async fn publish_steps(&self, number: u64, hand: &Hand, acted_on: Street, steps: &[Step], pot: &mut u64) {
        let names: Vec<String> = {
            let inner = self.table.inner.lock();
            inner.seats.iter().enumerate().map(|(i, s)| s.name(i)).collect()
        };
        let stacks = hand.stacks();
        let stack = |seat: usize| stacks.get(seat).copied().flatten();
        for step in steps {
            let (kind, data) = match step {
                Step::Blind { seat, amount } => {
                    *pot += amount;
                    let data = json!({"hand": number, "seat": seat, "name": names[*seat], "amount": amount,
                                      "stack": stack(*seat), "pot": *pot});
                    ("blind", data)
                }
                Step::Dealt { seat, cards } => {
                    self.deal(number, *seat, cards).await;
                    continue;
                }
                Step::Acted { seat, action, amount } => {
                    *pot += amount;
                    let data = json!({"hand": number, "seat": seat, "name": names[*seat], "action": action,
                                      "amount": amount, "stack": stack(*seat), "pot": *pot, "street": acted_on});
                    ("action", data)
                }
                Step::Board { street, cards } => (
                    "board",
                    json!({"hand": number, "street": street, "cards": cards, "board": hand.board(), "pot": *pot}),
                ),
                Step::Showdown { hands } => {
                    let shown: Vec<Value> = hands
                        .iter()
                        .map(|(seat, cards, rank)| {
                            json!({"seat": seat, "name": names[*seat], "cards": cards, "rank": rank.describe()})
                        })
                        .collect();
                    ("showdown", json!({"hand": number, "hands": shown, "board": hand.board()}))
                }
                Step::Won { seat, amount, rank } => (
                    "won",
                    json!({"hand": number, "seat": seat, "name": names[*seat], "amount": amount,
                               "rank": rank.as_ref().map(|r| r.describe()), "stack": stack(*seat)}),
                ),
            };
            announce(&self.state, &self.table, kind, data).await;
        }
    }

    /// Sends a player its hole cards, privately; bots' cards stay with the dealer.
    async fn deal(&self, number: u64, seat: usize, cards: &[cards::Card; 2]) {
        let Some(player_id) = self.table.inner.lock().seats[seat].player.as_ref().map(|p| p.id.clone()) else {
            return;
        };
        let update = Update {
            topics: vec![seat_topic(seat, &player_id)],
            data: json!({"hand": number, "seat": seat, "cards": cards}).to_string(),
            event_type: Some("cards".to_owned()),
            private: true,
            ..Update::default()
        };
        if let Err(e) = self.state.hub.publish(update).await {
            tracing::debug!("poker table: cards not dealt: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(clean_name("  Zoé\u{7}  ").as_deref(), Some("Zoé"));
        assert_eq!(clean_name("\n\t").as_deref(), None);
        assert_eq!(clean_name(&"x".repeat(50)).map(|n| n.len()), Some(20));
    }

    #[test]
    fn seats_go_to_players_until_the_table_is_full() {
        let Some(key) = DemoKey::generate() else { return };
        let table = Table::new(Arc::new(key));
        let sittings: Vec<Sitting> = (0..SEATS).map(|i| table.sit(&format!("p{i}")).unwrap()).collect();
        assert_eq!(sittings.iter().map(|s| s.seat).collect::<Vec<_>>(), (0..SEATS).collect::<Vec<_>>());
        assert!(matches!(table.sit("late"), Err(SitError::Full)));
        assert_eq!(sittings[2].seat_topic, format!("/demo/poker/seats/2/{}", sittings[2].id));
        assert_eq!(sittings[2].actions_topic, format!("/demo/poker/seats/2/{}/actions", sittings[2].id));
        assert_ne!(sittings[0].secret, sittings[1].secret);
        let snapshot = table.snapshot();
        assert_eq!(snapshot["seats"][3]["joining"]["name"], "p3");
        assert_eq!(snapshot["seats"][3]["bot"], true);
    }
}
