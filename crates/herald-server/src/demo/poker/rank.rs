//! Hand evaluation: the best five-card poker hand among a player's cards, ranked so that comparing
//! two [`HandRank`]s compares the hands, and described in words for the showdown.

use super::cards::{Card, Suit};

/// The kinds of poker hand, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Category {
    HighCard,
    Pair,
    TwoPair,
    Trips,
    Straight,
    Flush,
    FullHouse,
    Quads,
    StraightFlush,
}

impl Category {
    #[cfg(test)]
    /// The kind's usual name ("two pair", "full house").
    pub(crate) fn name(self) -> &'static str {
        match self {
            Category::HighCard => "high card",
            Category::Pair => "pair",
            Category::TwoPair => "two pair",
            Category::Trips => "three of a kind",
            Category::Straight => "straight",
            Category::Flush => "flush",
            Category::FullHouse => "full house",
            Category::Quads => "four of a kind",
            Category::StraightFlush => "straight flush",
        }
    }
}

/// How good a five-card hand is: the kind first, then the ranks that break ties between hands of
/// that kind, most significant first (unused places are 0).
///
/// - straight flush, straight: the top card (5 for the wheel, A-2-3-4-5)
/// - four of a kind: the quads, the kicker
/// - full house: the trips, the pair
/// - flush, high card: the five cards, highest first
/// - three of a kind: the trips, two kickers
/// - two pair: the higher pair, the lower pair, the kicker
/// - pair: the pair, three kickers
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct HandRank {
    category: Category,
    tiebreak: [u8; 5],
}

impl HandRank {
    /// The hand's kind.
    pub(crate) fn category(&self) -> Category {
        self.category
    }

    /// The tie-breaking ranks (see [`HandRank`]).
    pub(crate) fn tiebreak(&self) -> [u8; 5] {
        self.tiebreak
    }

    /// The hand in a few words: "two pair, kings and fours", "flush, ace high", "pair of nines".
    pub(crate) fn describe(&self) -> String {
        let [a, b, ..] = self.tiebreak;
        match self.category {
            Category::HighCard if a == 0 => "high card".to_owned(),
            Category::HighCard => format!("{} high", singular(a)),
            Category::Pair => format!("pair of {}", plural(a)),
            Category::TwoPair => format!("two pair, {} and {}", plural(a), plural(b)),
            Category::Trips => format!("three of a kind, {}", plural(a)),
            Category::Straight => format!("straight, {} high", singular(a)),
            Category::Flush => format!("flush, {} high", singular(a)),
            Category::FullHouse => format!("full house, {} full of {}", plural(a), plural(b)),
            Category::Quads => format!("four of a kind, {}", plural(a)),
            Category::StraightFlush if a == 14 => "royal flush".to_owned(),
            Category::StraightFlush => format!("straight flush, {} high", singular(a)),
        }
    }
}

fn singular(rank: u8) -> &'static str {
    match rank {
        2 => "two",
        3 => "three",
        4 => "four",
        5 => "five",
        6 => "six",
        7 => "seven",
        8 => "eight",
        9 => "nine",
        10 => "ten",
        11 => "jack",
        12 => "queen",
        13 => "king",
        14 => "ace",
        _ => "?",
    }
}

fn plural(rank: u8) -> &'static str {
    match rank {
        2 => "twos",
        3 => "threes",
        4 => "fours",
        5 => "fives",
        6 => "sixes",
        7 => "sevens",
        8 => "eights",
        9 => "nines",
        10 => "tens",
        11 => "jacks",
        12 => "queens",
        13 => "kings",
        14 => "aces",
        _ => "?",
    }
}

/// The best five-card hand that can be made from `cards` (meant for five to seven cards, as in
/// hold'em; with fewer, the cards are ranked by their pairs and high cards alone, as no straight
/// or flush can be made).
pub(crate) fn best(cards: &[Card]) -> HandRank {
    // counts[r]: how many cards of rank r.
    let mut counts = [0u8; 15];
    for card in cards {
        if let Some(count) = counts.get_mut(usize::from(card.rank)) {
            *count += 1;
        }
    }
    // The ranks present with at least `n` cards, highest first.
    let with_at_least = |n: u8| (2..=14u8).rev().filter(move |&r| counts[usize::from(r)] >= n);
    let hand = |category, ranks: &[u8]| {
        let mut tiebreak = [0; 5];
        for (slot, &rank) in tiebreak.iter_mut().zip(ranks) {
            *slot = rank;
        }
        HandRank { category, tiebreak }
    };
    // The highest ranks present other than those in `used`, up to `n` of them.
    let kickers =
        |used: &[u8], n: usize| -> Vec<u8> { with_at_least(1).filter(|r| !used.contains(r)).take(n).collect() };

    let suited = |suit: Suit| -> Vec<u8> {
        let mut ranks: Vec<u8> = cards.iter().filter(|card| card.suit == suit).map(|card| card.rank).collect();
        ranks.sort_unstable_by(|a, b| b.cmp(a));
        ranks
    };
    let flushes: Vec<Vec<u8>> = Suit::ALL.into_iter().map(suited).filter(|ranks| ranks.len() >= 5).collect();

    if let Some(high) = flushes.iter().filter_map(|ranks| straight_high(ranks)).max() {
        return hand(Category::StraightFlush, &[high]);
    }
    if let Some(quads) = with_at_least(4).next() {
        return hand(Category::Quads, &[quads, kickers(&[quads], 1).first().copied().unwrap_or(0)]);
    }
    if let Some(trips) = with_at_least(3).next() {
        if let Some(pair) = with_at_least(2).find(|&r| r != trips) {
            return hand(Category::FullHouse, &[trips, pair]);
        }
    }
    if let Some(flush) = flushes.iter().map(|ranks| &ranks[..5]).max() {
        return hand(Category::Flush, flush);
    }
    let ranks: Vec<u8> = with_at_least(1).collect();
    if let Some(high) = straight_high(&ranks) {
        return hand(Category::Straight, &[high]);
    }
    if let Some(trips) = with_at_least(3).next() {
        return hand(Category::Trips, &[&[trips][..], &kickers(&[trips], 2)].concat());
    }
    let pairs: Vec<u8> = with_at_least(2).take(2).collect();
    match pairs[..] {
        [high, low] => hand(Category::TwoPair, &[high, low, kickers(&[high, low], 1).first().copied().unwrap_or(0)]),
        [pair] => hand(Category::Pair, &[&[pair][..], &kickers(&[pair], 3)].concat()),
        _ => hand(Category::HighCard, &kickers(&[], 5)),
    }
}

/// The top card of the highest straight among `ranks` (in any order, repeats allowed), the ace
/// also counting as one.
fn straight_high(ranks: &[u8]) -> Option<u8> {
    let mut present = 0u16;
    for &rank in ranks {
        present |= 1 << rank;
        if rank == 14 {
            present |= 1 << 1;
        }
    }
    (5..=14u8).rev().find(|&high| {
        let run = 0b1_1111u16 << (high - 4);
        present & run == run
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::poker::cards::parse_cards;

    fn rank(names: &str) -> HandRank {
        best(&parse_cards(names))
    }

    #[test]
    fn every_category_is_recognized() {
        let cases = [
            ("As Kd 9c 7h 3s", Category::HighCard, [14, 13, 9, 7, 3]),
            ("9s 9d Ac 7h 3s", Category::Pair, [9, 14, 7, 3, 0]),
            ("Ks Kd 4c 4h Qs", Category::TwoPair, [13, 4, 12, 0, 0]),
            ("7s 7d 7c Ah 3s", Category::Trips, [7, 14, 3, 0, 0]),
            ("9s 8d 7c 6h 5s", Category::Straight, [9, 0, 0, 0, 0]),
            ("As Js 8s 4s 2s", Category::Flush, [14, 11, 8, 4, 2]),
            ("Ks Kd Kc 4h 4s", Category::FullHouse, [13, 4, 0, 0, 0]),
            ("As Ad Ac Ah 3s", Category::Quads, [14, 3, 0, 0, 0]),
            ("9h 8h 7h 6h 5h", Category::StraightFlush, [9, 0, 0, 0, 0]),
        ];
        for (names, category, tiebreak) in cases {
            let hand = rank(names);
            assert_eq!((hand.category(), hand.tiebreak()), (category, tiebreak), "{names}");
        }
        // And each beats the one before.
        for pair in cases.windows(2) {
            assert!(rank(pair[1].0) > rank(pair[0].0), "{} should beat {}", pair[1].0, pair[0].0);
        }
    }

    #[test]
    fn names_and_descriptions() {
        assert_eq!(Category::Trips.name(), "three of a kind");
        assert_eq!(Category::HighCard.name(), "high card");
        assert_eq!(Category::Quads.name(), "four of a kind");
        let cases = [
            ("As Kd 9c 7h 3s", "ace high"),
            ("9s 9d Ac 7h 3s", "pair of nines"),
            ("Ks Kd 4c 4h Qs", "two pair, kings and fours"),
            ("6s 6d 6c Ah 3s", "three of a kind, sixes"),
            ("As 2d 3c 4h 5s", "straight, five high"),
            ("Ts Jd Qc Kh As", "straight, ace high"),
            ("As Js 8s 4s 2s", "flush, ace high"),
            ("Ks Kd Kc 4h 4s", "full house, kings full of fours"),
            ("2s 2d 2c 2h 3s", "four of a kind, twos"),
            ("9h 8h 7h 6h 5h", "straight flush, nine high"),
            ("Ah 2h 3h 4h 5h", "straight flush, five high"),
            ("Ah Kh Qh Jh Th", "royal flush"),
        ];
        for (names, description) in cases {
            assert_eq!(rank(names).describe(), description, "{names}");
        }
    }

    #[test]
    fn kickers_decide_between_equal_kinds() {
        assert!(rank("9s 9d Ac 7h 3s") > rank("9c 9h Kc Qh Js"));
        assert!(rank("9s 9d Ac 7h 4s") > rank("9c 9h Ad 7d 3c"));
        assert!(rank("Ks Kd 4c 4h Qs") > rank("Kc Kh 4d 4s Js"));
        assert!(rank("Ks Kd 5c 5h 2s") > rank("Kc Kh 4d 4s As"));
        assert!(rank("As Ad Ac Ah Ks") > rank("Ac Ad As Ah Qs"));
        assert!(rank("Ts Td Tc 2h 2s") > rank("9s 9d 9c Ah As"));
        assert!(rank("As Qs 8s 4s 2s") > rank("Ah Jh Th 9h 7h"));
        assert!(rank("As Kd 9c 7h 4s") > rank("Ac Kh 9d 7s 3d"));
        assert!(rank("7s 7d 7c Ah 4s") > rank("7s 7d 7c Kh Qs"));
    }

    #[test]
    fn the_wheel_is_the_lowest_straight() {
        let wheel = rank("As 2d 3c 4h 5s");
        assert_eq!((wheel.category(), wheel.tiebreak()[0]), (Category::Straight, 5));
        assert!(rank("2s 3d 4c 5h 6s") > wheel);
        assert!(wheel > rank("As Ad Ac Kh Qs"));
        let steel_wheel = rank("Ad 2d 3d 4d 5d");
        assert_eq!((steel_wheel.category(), steel_wheel.tiebreak()[0]), (Category::StraightFlush, 5));
        assert!(rank("2c 3c 4c 5c 6c") > steel_wheel);
        // No wrapping round the ace.
        assert_eq!(rank("Qs Kd Ac 2h 3s").category(), Category::HighCard);
    }

    #[test]
    fn flush_beats_straight_and_full_house_beats_flush() {
        assert!(rank("As Js 8s 4s 2s") > rank("Ts Jd Qc Kh As"));
        assert!(rank("2s 2d 2c 3h 3s") > rank("As Ks Qs Js 9s"));
    }

    #[test]
    fn equal_hands_tie() {
        assert_eq!(rank("As Kd 9c 7h 3s"), rank("Ac Kh 9d 7s 3d"));
        assert_eq!(rank("9s 8d 7c 6h 5s"), rank("9h 8c 7d 6s 5c"));
        // The suits never matter between two flushes.
        assert_eq!(rank("As Js 8s 4s 2s"), rank("Ah Jh 8h 4h 2h"));
    }

    #[test]
    fn seven_cards_give_the_best_five() {
        // A flush on the board but a straight flush with the hole cards.
        assert_eq!(rank("2h 3h 4h 5h 9h Ah Ks").describe(), "straight flush, five high");
        // A straight and a flush: the flush, from the five highest of its suit.
        let hand = rank("9c 8c 7d 6c 5c 2c Tc");
        assert_eq!((hand.category(), hand.tiebreak()), (Category::Flush, [10, 9, 8, 6, 5]));
        // Six cards in a row: the highest straight.
        assert_eq!(rank("4s 5d 6c 7h 8s 9d Ks").describe(), "straight, nine high");
        // Two sets of trips: a full house, the lower set as the pair.
        assert_eq!(rank("Qs Qd Qc 3h 3s 3d 2s").describe(), "full house, queens full of threes");
        // Trips and two pairs: the higher pair fills the house.
        assert_eq!(rank("5s 5d 5c 9h 9s Jd Js").describe(), "full house, fives full of jacks");
        // Quads with a pair next to them: the kicker is the highest other card.
        let quads = rank("8s 8d 8c 8h Ks Kd Ac");
        assert_eq!((quads.category(), quads.tiebreak()), (Category::Quads, [8, 14, 0, 0, 0]));
        // Pair with five other cards: the three best kickers.
        let pair = rank("Js Jd 2c 4h 9s Qd 7c");
        assert_eq!(pair.tiebreak(), [11, 12, 9, 7, 0]);
    }

    #[test]
    fn three_pairs_play_the_best_two_and_a_kicker() {
        let hand = rank("Ks Kd 9c 9h 4s 4d 2c");
        assert_eq!((hand.category(), hand.tiebreak()), (Category::TwoPair, [13, 9, 4, 0, 0]));
        assert_eq!(hand.describe(), "two pair, kings and nines");
        // The fours are counterfeited: a queen kicker beats them.
        assert!(rank("Ks Kd 9c 9h 4s 2d Qc") > hand);
        // But the third pair can still be the kicker.
        assert!(hand > rank("Ks Kd 9c 9h 3s 2d 2c"));
    }

    #[test]
    fn seven_cards_rank_as_their_best_five() {
        let mut rng = fastrand::Rng::with_seed(17);
        for _ in 0..2_000 {
            let deck = crate::demo::poker::cards::shuffled_deck(&mut rng);
            let seven = &deck[..7];
            let mut best_five = None;
            for skip_a in 0..7 {
                for skip_b in skip_a + 1..7 {
                    let five: Vec<Card> = (0..7).filter(|&i| i != skip_a && i != skip_b).map(|i| seven[i]).collect();
                    best_five = best_five.max(Some(best(&five)));
                }
            }
            assert_eq!(Some(best(seven)), best_five, "{seven:?}");
        }
    }

    #[test]
    fn fewer_than_five_cards_rank_by_groups() {
        assert_eq!(rank("As Ks Qs").describe(), "ace high");
        assert_eq!(rank("9s 9d 2c").describe(), "pair of nines");
        assert_eq!(rank("9s 9d 2c 2h").describe(), "two pair, nines and twos");
        assert_eq!(rank("").describe(), "high card");
        assert!(rank("As Ad Ah 5s") > rank("Ks Kd 2c 2h"));
    }
}
