//! The bots' play: a simple strategy that bets good hands, calls fair ones, checks when it is free
//! and folds the rest, with a little randomness so that it is not too easy to read.

use super::cards::Card;
use super::game::{Action, Legal};
use super::rank::{self, Category};

/// Chooses an action for a bot holding `hole` with `board` out, facing `legal`, with
/// `players_in` players (itself included) still in the hand. The action is always legal.
pub(crate) fn decide(
    hole: [Card; 2],
    board: &[Card],
    legal: &Legal,
    players_in: usize,
    rng: &mut fastrand::Rng,
) -> Action {
    let strength = if board.is_empty() { preflop_strength(hole) } else { postflop_strength(hole, board) };
    // Against more opponents a hand is worth less; and a little noise.
    let crowd = 0.03 * players_in.saturating_sub(2) as f64;
    let strength = strength - crowd + (rng.f64() - 0.5) * 0.2;
    let bets_to_call = if legal.bet == 0 { 0.0 } else { legal.to_call as f64 / legal.bet as f64 };
    choose(strength, bets_to_call, legal, rng)
}

/// The action for a hand of `strength` (about 0 to 1) facing `bets_to_call` bets.
fn choose(strength: f64, bets_to_call: f64, legal: &Legal, rng: &mut fastrand::Rng) -> Action {
    let passive = if legal.can_check { Action::Check } else { Action::Call };
    if strength >= 0.7 {
        // Strong: raise, now and then slow-played.
        return if legal.can_raise && rng.f64() < 0.85 { Action::Raise } else { passive };
    }
    if strength >= 0.5 {
        // Fair: bet it sometimes when nobody has, otherwise call along.
        return if legal.can_check && legal.can_raise && rng.f64() < 0.35 { Action::Raise } else { passive };
    }
    if legal.can_check {
        // Weak but free: check, with a rare bluff.
        return if legal.can_raise && rng.f64() < 0.05 { Action::Raise } else { Action::Check };
    }
    if strength >= 0.3 && bets_to_call <= 1.0 {
        Action::Call
    } else {
        Action::Fold
    }
}

/// How good two hole cards are before the flop: 0.5 to 1 for pairs (deuces to aces), up to about
/// 0.8 for the best unpaired hands (ace-king suited), near 0 for seven-deuce.
fn preflop_strength([a, b]: [Card; 2]) -> f64 {
    let (high, low) = (a.rank.max(b.rank), a.rank.min(b.rank));
    if high == low {
        return 0.5 + f64::from(high.saturating_sub(2)) / 24.0;
    }
    let mut strength = f64::from((high + low).saturating_sub(5)) / 22.0 * 0.6;
    if a.suit == b.suit {
        strength += 0.08;
    }
    strength += match high - low {
        1 => 0.06,
        2 => 0.03,
        _ => 0.0,
    };
    if low >= 10 {
        strength += 0.05;
    }
    strength
}

/// How good the hand is after the flop: the made hand (counting only what the hole cards add to
/// the board), plus something for a flush or straight draw while cards are to come.
fn postflop_strength(hole: [Card; 2], board: &[Card]) -> f64 {
    let cards: Vec<Card> = hole.iter().chain(board).copied().collect();
    let mine = rank::best(&cards);
    let table = rank::best(board);
    let made = if mine.category() > table.category() {
        match mine.category() {
            Category::HighCard => 0.1,
            Category::Pair => {
                let top = board.iter().map(|card| card.rank).max().unwrap_or(0);
                // Top pair or an overpair.
                if mine.tiebreak()[0] >= top {
                    0.55
                } else {
                    0.4
                }
            }
            Category::TwoPair => 0.7,
            Category::Trips => 0.85,
            Category::Straight => 0.88,
            Category::Flush => 0.92,
            Category::FullHouse | Category::Quads | Category::StraightFlush => 0.97,
        }
    } else if mine > table {
        // The board's hand with better kickers.
        0.2
    } else {
        0.1
    };
    let draws = if board.len() < 5 && mine.category() < Category::Straight { draw_bonus(hole, &cards) } else { 0.0 };
    (made + draws).min(1.0)
}

/// Something for four cards to a flush, and for four of five ranks in a row, that use a hole card.
fn draw_bonus(hole: [Card; 2], cards: &[Card]) -> f64 {
    let flush_draw = hole.iter().any(|h| cards.iter().filter(|card| card.suit == h.suit).count() == 4);
    let mut present = 0u16;
    for card in cards {
        present |= 1 << card.rank;
        if card.rank == 14 {
            present |= 1 << 1;
        }
    }
    let straight_draw = (1..=10u8).any(|low| {
        let window = 0b1_1111u16 << low;
        let uses_hole = hole.iter().any(|h| {
            let rank = if h.rank == 14 && low == 1 { 1 } else { h.rank };
            (low..low + 5).contains(&rank)
        });
        (present & window).count_ones() == 4 && uses_hole
    });
    let mut bonus = 0.0;
    if flush_draw {
        bonus += 0.2;
    }
    if straight_draw {
        bonus += 0.12;
    }
    bonus
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::poker::cards::{parse_cards, shuffled_deck};
    use crate::demo::poker::game::{Hand, Limits, Step};

    fn cards2(names: &str) -> [Card; 2] {
        parse_cards(names).try_into().unwrap()
    }

    fn is_legal(action: Action, legal: &Legal) -> bool {
        match action {
            Action::Check => legal.can_check,
            Action::Raise => legal.can_raise,
            Action::Call => legal.to_call > 0,
            Action::Fold => !legal.can_check,
        }
    }

    fn random_legal(rng: &mut fastrand::Rng) -> Legal {
        let bet = if rng.bool() { 10 } else { 20 };
        let to_call = bet * rng.u64(0..=4);
        Legal { to_call, can_check: to_call == 0, can_raise: rng.bool(), raise_to: to_call + bet, bet }
    }

    #[test]
    fn always_legal_and_never_folds_a_free_check() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..20_000 {
            let deck = shuffled_deck(&mut rng);
            let hole = [deck[0], deck[1]];
            let board = &deck[2..2 + [0, 3, 4, 5][rng.usize(..4)]];
            let legal = random_legal(&mut rng);
            let players = rng.usize(2..=10);
            let action = decide(hole, board, &legal, players, &mut rng);
            assert!(is_legal(action, &legal), "{action:?} with {legal:?}");
        }
    }

    /// How often the hand raises out of `tries`, facing one bet with raising allowed.
    fn raises(hole: &str, board: &str, tries: usize, rng: &mut fastrand::Rng) -> usize {
        let legal = Legal { to_call: 10, can_check: false, can_raise: true, raise_to: 20, bet: 10 };
        let board = parse_cards(board);
        (0..tries).filter(|_| decide(cards2(hole), &board, &legal, 3, rng) == Action::Raise).count()
    }

    #[test]
    fn strong_hands_raise_more_than_weak_ones() {
        let mut rng = fastrand::Rng::with_seed(5);
        let aces = raises("As Ah", "", 1_000, &mut rng);
        let kings = raises("Ks Kh", "", 1_000, &mut rng);
        let ace_king = raises("As Ks", "", 1_000, &mut rng);
        let seven_deuce = raises("7s 2h", "", 1_000, &mut rng);
        let jack_four = raises("Js 4h", "", 1_000, &mut rng);
        assert!(aces > 700, "{aces}");
        assert!(kings > 700, "{kings}");
        assert!(ace_king > seven_deuce + 300, "{ace_king} {seven_deuce}");
        assert!(jack_four < 50, "{jack_four}");
        assert_eq!(seven_deuce, 0);

        let set = raises("9s 9h", "9d 4c 2s", 1_000, &mut rng);
        let nothing = raises("7s 3h", "Kd Qc 9s", 1_000, &mut rng);
        assert!(set > 700, "{set}");
        assert_eq!(nothing, 0);
    }

    #[test]
    fn weak_hands_fold_to_a_bet_and_check_when_free() {
        let mut rng = fastrand::Rng::with_seed(9);
        let facing = Legal { to_call: 20, can_check: false, can_raise: true, raise_to: 40, bet: 20 };
        let free = Legal { to_call: 0, can_check: true, can_raise: true, raise_to: 20, bet: 20 };
        let board = parse_cards("Kd Qc 9s 4h 2c");
        let hole = cards2("7s 3h");
        let folds = (0..1_000).filter(|_| decide(hole, &board, &facing, 2, &mut rng) == Action::Fold).count();
        assert_eq!(folds, 1_000);
        let checks = (0..1_000).filter(|_| decide(hole, &board, &free, 2, &mut rng) == Action::Check).count();
        assert!(checks > 900, "{checks}");
    }

    #[test]
    fn draws_are_worth_something() {
        let cards = parse_cards("Ah 5h 9h 2h Kc");
        assert!(draw_bonus(cards2("Ah 5h"), &cards) > 0.0);
        let cards = parse_cards("8s 9d Tc Jh 2c");
        assert!(draw_bonus(cards2("8s 9d"), &cards) > 0.0);
        let cards = parse_cards("As 2d 3c 4h Kc");
        assert!(draw_bonus(cards2("As 2d"), &cards) > 0.0);
        let cards = parse_cards("7s 2d Tc Jh Qc Ks");
        assert!(draw_bonus(cards2("7s 2d"), &cards) == 0.0);
        assert!(
            postflop_strength(cards2("Ah 5h"), &parse_cards("9h 2h Kc"))
                > postflop_strength(cards2("Ad 5c"), &parse_cards("9h 2h Kc"))
        );
    }

    #[test]
    fn bots_play_whole_hands() {
        let mut rng = fastrand::Rng::with_seed(3);
        let limits = Limits { small_blind: 5, big_blind: 10 };
        let mut stacks = vec![Some(10_000); 6];
        let start: u64 = stacks.iter().flatten().sum();
        let (mut showdowns, mut raises) = (0, 0);
        for button in 0..300 {
            let (mut hand, _) = Hand::start(&stacks, button % 6, limits, shuffled_deck(&mut rng)).unwrap();
            while let (Some(seat), Some(legal)) = (hand.to_act(), hand.legal()) {
                let players_in = (0..6).filter(|&s| hand.in_hand(s)).count();
                let hole = hand.hole_cards(seat).unwrap();
                let action = decide(hole, hand.board(), &legal, players_in, &mut rng);
                for step in hand.act(seat, action).unwrap() {
                    match step {
                        Step::Showdown { .. } => showdowns += 1,
                        Step::Acted { action: Action::Raise, .. } => raises += 1,
                        _ => {}
                    }
                }
            }
            stacks = hand.stacks();
            assert_eq!(stacks.iter().flatten().sum::<u64>(), start);
        }
        assert!(showdowns > 30, "{showdowns}");
        assert!(raises > 100, "{raises}");
    }
}
