//! The poker demo: a fixed-limit Texas hold'em table played by bots and by people over the WebSocket.

// Used by the table runtime.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod bot;
pub(crate) mod cards;
pub(crate) mod game;
pub(crate) mod rank;
