//! Playing cards: the 52-card deck, its shuffle, and the two-character names ("As", "Td", "9c")
//! the pages show.

use std::fmt;
use std::str::FromStr;

/// The ranks' letters, from the two (rank 2) to the ace (rank 14).
const RANK_LETTERS: &[u8; 13] = b"23456789TJQKA";

/// A card's suit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Suit {
    Clubs,
    Diamonds,
    Hearts,
    Spades,
}

impl Suit {
    /// Every suit, in the order of the enum.
    pub(crate) const ALL: [Suit; 4] = [Suit::Clubs, Suit::Diamonds, Suit::Hearts, Suit::Spades];

    fn letter(self) -> char {
        match self {
            Suit::Clubs => 'c',
            Suit::Diamonds => 'd',
            Suit::Hearts => 'h',
            Suit::Spades => 's',
        }
    }
}

/// A playing card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Card {
    /// 2 to 14; 11 is the jack, 12 the queen, 13 the king, 14 the ace.
    pub(crate) rank: u8,
    pub(crate) suit: Suit,
}

impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rank =
            usize::from(self.rank).checked_sub(2).and_then(|i| RANK_LETTERS.get(i)).map_or('?', |&b| char::from(b));
        write!(f, "{rank}{}", self.suit.letter())
    }
}

impl serde::Serialize for Card {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A string that is not a card's two-character name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a card: {0:?}")]
pub(crate) struct ParseCardError(String);

impl FromStr for Card {
    type Err = ParseCardError;

    /// Reads a name such as "As" or "td" (the rank's letter is case-insensitive, as is the suit's).
    fn from_str(s: &str) -> Result<Card, ParseCardError> {
        let error = || ParseCardError(s.to_owned());
        let mut chars = s.chars();
        let (Some(rank), Some(suit), None) = (chars.next(), chars.next(), chars.next()) else {
            return Err(error());
        };
        let rank = rank.to_ascii_uppercase();
        let index = RANK_LETTERS.iter().position(|&b| char::from(b) == rank).ok_or_else(error)?;
        let suit = Suit::ALL.into_iter().find(|s| s.letter() == suit.to_ascii_lowercase()).ok_or_else(error)?;
        // `index` is below 13.
        Ok(Card { rank: index as u8 + 2, suit })
    }
}

/// The 52 cards, suit by suit, twos first.
fn ordered_deck() -> Vec<Card> {
    Suit::ALL.into_iter().flat_map(|suit| (2..=14).map(move |rank| Card { rank, suit })).collect()
}

/// The 52 cards in a random order.
pub(crate) fn shuffled_deck(rng: &mut fastrand::Rng) -> Vec<Card> {
    let mut deck = ordered_deck();
    rng.shuffle(&mut deck);
    deck
}

/// The cards named in `names`, separated by spaces ("As Kd 7c").
#[cfg(test)]
pub(crate) fn parse_cards(names: &str) -> Vec<Card> {
    names.split_whitespace().map(|name| name.parse().unwrap()).collect()
}

/// A full deck whose first cards are those named in `front` (in that order), followed by the
/// others in a fixed order.
#[cfg(test)]
pub(crate) fn deck_starting_with(front: &str) -> Vec<Card> {
    let mut deck = parse_cards(front);
    let rest: Vec<Card> = ordered_deck().into_iter().filter(|card| !deck.contains(card)).collect();
    deck.extend(rest);
    assert_eq!(deck.len(), 52, "repeated cards in {front:?}");
    deck
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_have_two_characters() {
        assert_eq!(Card { rank: 14, suit: Suit::Spades }.to_string(), "As");
        assert_eq!(Card { rank: 10, suit: Suit::Diamonds }.to_string(), "Td");
        assert_eq!(Card { rank: 9, suit: Suit::Clubs }.to_string(), "9c");
        assert_eq!(Card { rank: 2, suit: Suit::Hearts }.to_string(), "2h");
        assert_eq!(Card { rank: 13, suit: Suit::Hearts }.to_string(), "Kh");
    }

    #[test]
    fn names_parse_back() {
        for card in ordered_deck() {
            assert_eq!(card.to_string().parse::<Card>(), Ok(card));
        }
        assert_eq!("qh".parse::<Card>(), Ok(Card { rank: 12, suit: Suit::Hearts }));
        for bad in ["", "A", "Asx", "1s", "Ax", "10s", "ss"] {
            assert_eq!(bad.parse::<Card>(), Err(ParseCardError(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn serializes_as_its_name() {
        let cards = parse_cards("As Td");
        assert_eq!(serde_json::to_string(&cards).unwrap(), r#"["As","Td"]"#);
    }

    #[test]
    fn a_shuffled_deck_has_52_distinct_cards() {
        let mut rng = fastrand::Rng::with_seed(7);
        let deck = shuffled_deck(&mut rng);
        assert_eq!(deck.len(), 52);
        assert_eq!(deck.iter().collect::<HashSet<_>>().len(), 52);
        assert!(deck.iter().all(|card| (2..=14).contains(&card.rank)));
        assert_ne!(deck, shuffled_deck(&mut rng), "two shuffles in a row gave the same order");
        assert_ne!(deck, ordered_deck());
    }

    #[test]
    fn test_decks_start_with_the_given_cards() {
        let deck = deck_starting_with("As Kd 2c");
        assert_eq!(&deck[..3], &parse_cards("As Kd 2c")[..]);
        assert_eq!(deck.iter().collect::<HashSet<_>>().len(), 52);
    }
}
