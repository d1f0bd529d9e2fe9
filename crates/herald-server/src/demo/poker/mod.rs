//! The poker demo: a fixed-limit Texas hold'em table played by bots and by people over the
//! WebSocket, watched by any number of spectators.
//!
//! It shows what a hub is for in a game: one publisher (the dealer, [`table`]) and thousands of
//! viewers notified as each action happens, private updates for what only one player may see
//! (hole cards, with a token the table mints per seat), players acting by publishing over the
//! same WebSocket they receive on, presence for the spectator count, and history so that a page
//! opened mid-hand replays the hand so far. [`game`] is the rules, [`rank`] ranks hands,
//! [`cards`] the deck, [`bot`] plays empty seats, [`http`] serves the page and seats players.

pub(crate) mod bot;
pub(crate) mod cards;
pub(crate) mod game;
pub(crate) mod http;
pub(crate) mod rank;
pub(crate) mod table;
