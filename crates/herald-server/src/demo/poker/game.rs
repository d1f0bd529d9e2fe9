//! One hand of fixed-limit Texas hold'em: the blinds, the deal, four betting streets, the showdown
//! and the pot, as a state machine driven by the players' actions.
//!
//! Every stack must cover the most a player can put in during one hand, so nobody is ever all-in
//! and there is only ever one pot.

use super::cards::Card;
use super::rank::{self, HandRank};

/// The most bets on one street: a bet and three raises (preflop the big blind is the first bet).
const MAX_BETS: u8 = 4;

/// The stakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// At most the big blind (a larger one is posted as the big blind).
    pub(crate) small_blind: u64,
    pub(crate) big_blind: u64,
}

impl Limits {
    /// The size of a bet or raise on `street`: the big blind preflop and on the flop, twice that
    /// on the turn and the river.
    pub(crate) fn bet_on(&self, street: Street) -> u64 {
        match street {
            Street::Preflop | Street::Flop => self.big_blind,
            Street::Turn | Street::River => self.big_blind.saturating_mul(2),
        }
    }

    /// The most one player can put in during one hand: four bets on every street.
    pub(crate) fn max_commitment(&self) -> u64 {
        [Street::Preflop, Street::Flop, Street::Turn, Street::River]
            .into_iter()
            .fold(0u64, |sum, street| sum.saturating_add(self.bet_on(street).saturating_mul(u64::from(MAX_BETS))))
    }

    fn small_blind(&self) -> u64 {
        self.small_blind.min(self.big_blind)
    }
}

/// A betting round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Street {
    Preflop,
    Flop,
    Turn,
    River,
}

impl Street {
    fn next(self) -> Option<Street> {
        match self {
            Street::Preflop => Some(Street::Flop),
            Street::Flop => Some(Street::Turn),
            Street::Turn => Some(Street::River),
            Street::River => None,
        }
    }

    /// How many board cards are out during this street.
    pub(crate) fn board_len(self) -> usize {
        match self {
            Street::Preflop => 0,
            Street::Flop => 3,
            Street::Turn => 4,
            Street::River => 5,
        }
    }
}

/// What a player can do on its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Fold,
    Check,
    Call,
    /// Raise, or bet when nothing is bet yet on the street.
    Raise,
}

/// The choices of the player to act.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Legal {
    /// The chips a call costs (0 when the player can check).
    pub(crate) to_call: u64,
    pub(crate) can_check: bool,
    /// False once the street has its four bets.
    pub(crate) can_raise: bool,
    /// The player's total bet on this street after a raise (meaningful when `can_raise`).
    pub(crate) raise_to: u64,
    /// The size of a bet or raise on this street.
    pub(crate) bet: u64,
}

/// Something that happened during the hand, for the table to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Blind {
        seat: usize,
        amount: u64,
    },
    Dealt {
        seat: usize,
        cards: [Card; 2],
    },
    /// `amount`: the chips this action put in.
    Acted {
        seat: usize,
        action: Action,
        amount: u64,
    },
    /// `cards`: the cards just dealt (three on the flop, then one).
    Board {
        street: Street,
        cards: Vec<Card>,
    },
    /// Every player still in, in seat order.
    Showdown {
        hands: Vec<(usize, [Card; 2], HandRank)>,
    },
    /// `rank`: the winning hand, None when everyone else folded.
    Won {
        seat: usize,
        amount: u64,
        rank: Option<HandRank>,
    },
}

/// Why a hand cannot start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum StartError {
    #[error("fewer than two players can play")]
    NotEnoughPlayers,
    #[error("seat {0} has fewer chips than one hand can cost")]
    ShortStack(usize),
    #[error("the deck has too few cards for the hand")]
    ShortDeck,
}

/// Why an action was refused (the hand is then unchanged).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ActError {
    #[error("the hand is over")]
    Over,
    #[error("it is not seat {0}'s turn")]
    NotYourTurn(usize),
    #[error("cannot {0:?} now")]
    Illegal(Action),
}

/// A player dealt into the hand.
#[derive(Clone, Debug)]
struct Player {
    stack: u64,
    hole: [Card; 2],
    folded: bool,
    /// The chips put in on the current street.
    street_bet: u64,
    /// Whether the player still has to act on this street (everyone does when it opens, and the
    /// others again after a raise; the blinds are not actions).
    to_act: bool,
}

/// One hand in progress (or over).
#[derive(Clone, Debug)]
pub(crate) struct Hand {
    limits: Limits,
    /// None for an empty seat.
    seats: Vec<Option<Player>>,
    button: usize,
    /// The five board cards, taken from the deck at the start and shown street by street.
    runout: [Card; 5],
    street: Street,
    /// None once the hand is over.
    to_act: Option<usize>,
    /// The highest bet on this street.
    current_bet: u64,
    /// The bets and raises made on this street.
    bets: u8,
    /// The chips in the middle, not yet awarded.
    pot: u64,
}

impl Hand {
    /// Starts a hand: posts the blinds and deals the hole cards.
    ///
    /// `stacks[i]` is seat i's chips, None for an empty seat. `button` is the dealer button's
    /// seat; when it is empty, the next occupied seat clockwise (increasing index, wrapping) has
    /// the button. Every occupied stack must be at least [`Limits::max_commitment`].
    ///
    /// Heads-up, the button posts the small blind and acts first preflop (last afterwards);
    /// otherwise the two seats after the button post the blinds and the one after the big blind
    /// acts first. The hole cards are taken from the front of `deck`, one at a time round the
    /// table starting left of the button, twice; the board is the next five cards.
    ///
    /// Returns the hand and its steps so far: the small blind, the big blind, then one `Dealt`
    /// per player in the order of the deal.
    pub(crate) fn start(
        stacks: &[Option<u64>],
        button: usize,
        limits: Limits,
        deck: Vec<Card>,
    ) -> Result<(Hand, Vec<Step>), StartError> {
        let seat_count = stacks.len();
        let occupied = stacks.iter().filter(|stack| stack.is_some()).count();
        if occupied < 2 {
            return Err(StartError::NotEnoughPlayers);
        }
        let needed = limits.max_commitment();
        if let Some(short) = stacks.iter().position(|stack| stack.is_some_and(|chips| chips < needed)) {
            return Err(StartError::ShortStack(short));
        }
        let button = (0..seat_count)
            .map(|i| (button % seat_count + i) % seat_count)
            .find(|&seat| stacks[seat].is_some())
            .ok_or(StartError::NotEnoughPlayers)?;
        // The players in the order of the deal, the button last.
        let order: Vec<usize> =
            (1..=seat_count).map(|i| (button + i) % seat_count).filter(|&seat| stacks[seat].is_some()).collect();

        let mut seats: Vec<Option<Player>> = vec![None; seat_count];
        let mut steps = Vec::with_capacity(2 + occupied);
        for (k, &seat) in order.iter().enumerate() {
            let (Some(&first), Some(&second), Some(&chips)) =
                (deck.get(k), deck.get(k + occupied), stacks[seat].as_ref())
            else {
                return Err(StartError::ShortDeck);
            };
            let hole = [first, second];
            seats[seat] = Some(Player { stack: chips, hole, folded: false, street_bet: 0, to_act: true });
            steps.push(Step::Dealt { seat, cards: hole });
        }
        let runout: [Card; 5] = deck
            .get(2 * occupied..2 * occupied + 5)
            .and_then(|cards| cards.try_into().ok())
            .ok_or(StartError::ShortDeck)?;

        let (small, big) = match order[..] {
            // Heads-up the button (dealt last) posts the small blind.
            [big, small] => (small, big),
            [small, big, ..] => (small, big),
            _ => return Err(StartError::NotEnoughPlayers),
        };
        let mut hand = Hand {
            limits,
            seats,
            button,
            runout,
            street: Street::Preflop,
            to_act: None,
            current_bet: limits.big_blind,
            bets: 1,
            pot: 0,
        };
        let blinds = [(small, limits.small_blind()), (big, limits.big_blind)];
        for (seat, amount) in blinds {
            hand.put_in(seat, amount);
        }
        hand.to_act = hand.next_to_act(big);
        let mut all = blinds.map(|(seat, amount)| Step::Blind { seat, amount }).to_vec();
        all.append(&mut steps);
        Ok((hand, all))
    }

    /// The seat whose turn it is, None when the hand is over.
    pub(crate) fn to_act(&self) -> Option<usize> {
        self.to_act
    }

    /// The choices of the seat to act, None when the hand is over.
    pub(crate) fn legal(&self) -> Option<Legal> {
        let player = self.player(self.to_act?)?;
        let to_call = self.current_bet.saturating_sub(player.street_bet);
        let bet = self.limits.bet_on(self.street);
        Some(Legal {
            to_call,
            can_check: to_call == 0,
            can_raise: self.bets < MAX_BETS,
            raise_to: self.current_bet.saturating_add(bet),
            bet,
        })
    }

    /// The current betting round (the last one played, once the hand is over).
    pub(crate) fn street(&self) -> Street {
        self.street
    }

    /// The seat to act plays `action`; returns what happened.
    ///
    /// That is the `Acted` step, then, when the street's betting is closed, the next `Board`; at
    /// the end, a `Showdown` (when two or more players are left after the river) and the `Won`
    /// steps. A split pot gives each winner its share, the odd chips one each to the winners
    /// first to the left of the button (the `Won` steps come in that order). When everyone else
    /// has folded, the last player wins the pot at once.
    ///
    /// A call with nothing to call is a check (and reported as one); folding when checking is
    /// free is allowed.
    pub(crate) fn act(&mut self, seat: usize, action: Action) -> Result<Vec<Step>, ActError> {
        let turn = self.to_act.ok_or(ActError::Over)?;
        if seat != turn {
            return Err(ActError::NotYourTurn(seat));
        }
        let legal = self.legal().ok_or(ActError::Over)?;
        let (action, amount) = match action {
            Action::Fold => (Action::Fold, 0),
            Action::Check | Action::Call if legal.can_check => (Action::Check, 0),
            Action::Check => return Err(ActError::Illegal(Action::Check)),
            Action::Call => (Action::Call, legal.to_call),
            Action::Raise if legal.can_raise => {
                (Action::Raise, legal.raise_to.saturating_sub(self.bet_this_street(seat)))
            }
            Action::Raise => return Err(ActError::Illegal(Action::Raise)),
        };

        match action {
            Action::Fold => {
                if let Some(player) = self.player_mut(seat) {
                    player.folded = true;
                }
            }
            Action::Raise => {
                self.current_bet = legal.raise_to;
                self.bets += 1;
                for player in self.seats.iter_mut().flatten().filter(|player| !player.folded) {
                    player.to_act = true;
                }
            }
            Action::Check | Action::Call => {}
        }
        self.put_in(seat, amount);
        if let Some(player) = self.player_mut(seat) {
            player.to_act = false;
        }
        let mut steps = vec![Step::Acted { seat, action, amount }];

        let left: Vec<usize> = self.players_in().collect();
        if let [winner] = left[..] {
            self.award(&[winner], None, &mut steps);
        } else if let Some(next) = self.next_to_act(seat) {
            self.to_act = Some(next);
        } else {
            self.close_street(&mut steps);
        }
        Ok(steps)
    }

    /// What a player must do when its turn timer runs out: check if it can, else fold.
    pub(crate) fn timeout_action(&self) -> Action {
        match self.legal() {
            Some(legal) if legal.can_check => Action::Check,
            _ => Action::Fold,
        }
    }

    #[cfg(test)]
    /// The chips put in during this hand and not yet awarded (0 once the hand is over).
    pub(crate) fn pot(&self) -> u64 {
        self.pot
    }

    /// Every seat's chips now, None for a seat not dealt in (after the bets and, once the hand
    /// is over, the winnings).
    pub(crate) fn stacks(&self) -> Vec<Option<u64>> {
        self.seats.iter().map(|seat| seat.as_ref().map(|player| player.stack)).collect()
    }

    /// The board cards dealt so far.
    pub(crate) fn board(&self) -> &[Card] {
        &self.runout[..self.street.board_len()]
    }

    /// The seat's hole cards, if it was dealt in (folded or not).
    pub(crate) fn hole_cards(&self, seat: usize) -> Option<[Card; 2]> {
        self.player(seat).map(|player| player.hole)
    }

    /// Whether the seat was dealt in and has not folded.
    pub(crate) fn in_hand(&self, seat: usize) -> bool {
        self.player(seat).is_some_and(|player| !player.folded)
    }

    #[cfg(test)]
    /// Whether the hand is over (the pot has been awarded).
    pub(crate) fn is_over(&self) -> bool {
        self.to_act.is_none()
    }

    /// The chips the seat has put in on the current street (0 once the hand is over).
    pub(crate) fn bet_this_street(&self, seat: usize) -> u64 {
        self.player(seat).map_or(0, |player| player.street_bet)
    }

    #[cfg(test)]
    /// The dealer button's seat.
    pub(crate) fn button(&self) -> usize {
        self.button
    }

    fn player(&self, seat: usize) -> Option<&Player> {
        self.seats.get(seat)?.as_ref()
    }

    fn player_mut(&mut self, seat: usize) -> Option<&mut Player> {
        self.seats.get_mut(seat)?.as_mut()
    }

    /// The seats still in the hand, in seat order.
    fn players_in(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.seats.len()).filter(|&seat| self.in_hand(seat))
    }

    /// The seats from the one after `from` round the table, `from` last.
    fn clockwise(&self, from: usize) -> impl Iterator<Item = usize> {
        let count = self.seats.len();
        (1..=count).map(move |i| (from + i) % count)
    }

    /// The next seat after `from` that still has to act on this street.
    fn next_to_act(&self, from: usize) -> Option<usize> {
        self.clockwise(from).find(|&seat| self.player(seat).is_some_and(|player| !player.folded && player.to_act))
    }

    /// Moves `amount` of the seat's chips into its bet and the pot. No stack can run out: each
    /// covers the most a hand can cost.
    fn put_in(&mut self, seat: usize, amount: u64) {
        if let Some(player) = self.player_mut(seat) {
            player.stack -= amount;
            player.street_bet += amount;
            self.pot += amount;
        }
    }

    /// Ends the street's betting: deals the next street, or shows the hands down after the river.
    fn close_street(&mut self, steps: &mut Vec<Step>) {
        let Some(next) = self.street.next() else {
            self.showdown(steps);
            return;
        };
        let dealt = self.street.board_len()..next.board_len();
        self.street = next;
        self.current_bet = 0;
        self.bets = 0;
        for player in self.seats.iter_mut().flatten() {
            player.street_bet = 0;
            player.to_act = !player.folded;
        }
        self.to_act = self.next_to_act(self.button);
        steps.push(Step::Board { street: next, cards: self.runout[dealt].to_vec() });
    }

    fn showdown(&mut self, steps: &mut Vec<Step>) {
        let board = self.board().to_vec();
        let hands: Vec<(usize, [Card; 2], HandRank)> = self
            .players_in()
            .filter_map(|seat| {
                let hole = self.player(seat)?.hole;
                let rank = rank::best(&[&hole[..], &board].concat());
                Some((seat, hole, rank))
            })
            .collect();
        let Some(top) = hands.iter().map(|(_, _, rank)| rank).max().cloned() else {
            return;
        };
        let winners: Vec<usize> = self
            .clockwise(self.button)
            .filter(|seat| hands.iter().any(|(s, _, rank)| s == seat && *rank == top))
            .collect();
        steps.push(Step::Showdown { hands });
        self.award(&winners, Some(top), steps);
    }

    /// Splits the pot between `winners` (the first to the left of the button first) and ends the
    /// hand.
    fn award(&mut self, winners: &[usize], rank: Option<HandRank>, steps: &mut Vec<Step>) {
        let count = winners.len() as u64;
        if count == 0 {
            return;
        }
        let (share, odd) = (self.pot / count, self.pot % count);
        for (i, &seat) in winners.iter().enumerate() {
            let amount = share + u64::from((i as u64) < odd);
            if let Some(player) = self.player_mut(seat) {
                player.stack += amount;
            }
            steps.push(Step::Won { seat, amount, rank: rank.clone() });
        }
        self.pot = 0;
        for player in self.seats.iter_mut().flatten() {
            player.street_bet = 0;
            player.to_act = false;
        }
        self.to_act = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::poker::cards::{deck_starting_with, parse_cards, shuffled_deck};
    use crate::demo::poker::rank::Category;

    const LIMITS: Limits = Limits { small_blind: 1, big_blind: 2 };
    const CHIPS: u64 = 1_000;

    fn seats(n: usize) -> Vec<Option<u64>> {
        vec![Some(CHIPS); n]
    }

    fn start(stacks: &[Option<u64>], button: usize, front: &str) -> (Hand, Vec<Step>) {
        Hand::start(stacks, button, LIMITS, deck_starting_with(front)).unwrap()
    }

    fn cards2(names: &str) -> [Card; 2] {
        parse_cards(names).try_into().unwrap()
    }

    /// Plays `actions` as (seat, action) and returns every step.
    fn play(hand: &mut Hand, actions: &[(usize, Action)]) -> Vec<Step> {
        let mut steps = Vec::new();
        for &(seat, action) in actions {
            steps.extend(hand.act(seat, action).unwrap_or_else(|e| panic!("{seat} {action:?}: {e}")));
        }
        steps
    }

    fn total(hand: &Hand) -> u64 {
        hand.stacks().iter().flatten().sum::<u64>() + hand.pot()
    }

    #[test]
    fn max_commitment_is_24_big_blinds() {
        assert_eq!(LIMITS.max_commitment(), 48);
        assert_eq!(Limits { small_blind: 5, big_blind: 10 }.max_commitment(), 240);
        assert_eq!(LIMITS.bet_on(Street::Flop), 2);
        assert_eq!(LIMITS.bet_on(Street::Turn), 4);
    }

    #[test]
    fn blinds_deal_and_first_to_act_with_three_players() {
        let (hand, steps) = start(&seats(3), 0, "2c 3c 4c 5c 6c 7c");
        assert_eq!(
            steps,
            vec![
                Step::Blind { seat: 1, amount: 1 },
                Step::Blind { seat: 2, amount: 2 },
                Step::Dealt { seat: 1, cards: cards2("2c 5c") },
                Step::Dealt { seat: 2, cards: cards2("3c 6c") },
                Step::Dealt { seat: 0, cards: cards2("4c 7c") },
            ]
        );
        assert_eq!(hand.to_act(), Some(0));
        assert_eq!(hand.street(), Street::Preflop);
        assert_eq!(hand.pot(), 3);
        assert_eq!(hand.stacks(), vec![Some(CHIPS), Some(CHIPS - 1), Some(CHIPS - 2)]);
        assert_eq!((hand.bet_this_street(1), hand.bet_this_street(2)), (1, 2));
        assert_eq!(hand.legal(), Some(Legal { to_call: 2, can_check: false, can_raise: true, raise_to: 4, bet: 2 }));
        assert_eq!(hand.hole_cards(0), Some(cards2("4c 7c")));
        assert!(hand.board().is_empty());
        assert!(!hand.is_over());
    }

    #[test]
    fn empty_seats_are_skipped_and_an_empty_button_moves_on() {
        let stacks = [Some(CHIPS), None, None, Some(CHIPS), Some(CHIPS), None, Some(CHIPS)];
        let (hand, steps) = start(&stacks, 1, "");
        assert_eq!(hand.button(), 3);
        assert_eq!(&steps[..2], &[Step::Blind { seat: 4, amount: 1 }, Step::Blind { seat: 6, amount: 2 }]);
        let dealt: Vec<usize> = steps[2..]
            .iter()
            .map(|step| match step {
                Step::Dealt { seat, .. } => *seat,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(dealt, vec![4, 6, 0, 3]);
        assert_eq!(hand.to_act(), Some(0));
        assert_eq!(hand.stacks()[1], None);
        assert_eq!(hand.hole_cards(1), None);
        assert!(!hand.in_hand(1));
        assert!(!hand.in_hand(99));
        // A button past the end wraps round.
        let (hand, _) = start(&stacks, 12, "");
        assert_eq!(hand.button(), 6);
    }

    #[test]
    fn heads_up_the_button_posts_the_small_blind_and_acts_first_preflop_only() {
        let (mut hand, steps) = start(&seats(2), 1, "");
        assert_eq!(&steps[..2], &[Step::Blind { seat: 1, amount: 1 }, Step::Blind { seat: 0, amount: 2 }]);
        assert!(matches!(steps[2], Step::Dealt { seat: 0, .. }));
        assert_eq!(hand.to_act(), Some(1));
        assert_eq!(hand.legal().map(|legal| legal.to_call), Some(1));
        let steps = play(&mut hand, &[(1, Action::Call)]);
        assert_eq!(steps, vec![Step::Acted { seat: 1, action: Action::Call, amount: 1 }]);
        // The big blind's option.
        assert_eq!(hand.to_act(), Some(0));
        let steps = play(&mut hand, &[(0, Action::Check)]);
        assert!(matches!(steps[1], Step::Board { street: Street::Flop, .. }));
        // After the flop the big blind acts first.
        assert_eq!(hand.to_act(), Some(0));
    }

    #[test]
    fn a_hand_checked_down_to_the_showdown() {
        // Seat 1 gets Ah Kh, seat 2 7c 2d, seat 0 Qs Qd; the board gives seat 1 a flush.
        let front = "Ah 7c Qs Kh 2d Qd 9h 4h 3s Jc 2h";
        let (mut hand, _) = start(&seats(3), 0, front);
        let steps = play(&mut hand, &[(0, Action::Call), (1, Action::Call)]);
        assert_eq!(
            steps,
            vec![
                Step::Acted { seat: 0, action: Action::Call, amount: 2 },
                Step::Acted { seat: 1, action: Action::Call, amount: 1 },
            ]
        );
        let steps = play(&mut hand, &[(2, Action::Check)]);
        assert_eq!(steps[1], Step::Board { street: Street::Flop, cards: parse_cards("9h 4h 3s") });
        assert_eq!(hand.pot(), 6);
        assert_eq!(hand.to_act(), Some(1));
        assert_eq!(hand.legal(), Some(Legal { to_call: 0, can_check: true, can_raise: true, raise_to: 2, bet: 2 }));

        let steps = play(&mut hand, &[(1, Action::Check), (2, Action::Check), (0, Action::Check)]);
        assert_eq!(steps[3], Step::Board { street: Street::Turn, cards: parse_cards("Jc") });
        assert_eq!(hand.legal().map(|legal| legal.bet), Some(4));
        let steps = play(&mut hand, &[(1, Action::Check), (2, Action::Check), (0, Action::Check)]);
        assert_eq!(steps[3], Step::Board { street: Street::River, cards: parse_cards("2h") });
        assert_eq!(hand.board(), &parse_cards("9h 4h 3s Jc 2h")[..]);

        let steps = play(&mut hand, &[(1, Action::Check), (2, Action::Check), (0, Action::Check)]);
        let flush = rank::best(&parse_cards("Ah Kh 9h 4h 3s Jc 2h"));
        assert_eq!(flush.describe(), "flush, ace high");
        let Step::Showdown { hands } = &steps[3] else { panic!("{steps:?}") };
        let seats: Vec<usize> = hands.iter().map(|(seat, _, _)| *seat).collect();
        assert_eq!(seats, vec![0, 1, 2]);
        assert_eq!(hands[0].2.describe(), "pair of queens");
        assert_eq!(hands[1], (1, cards2("Ah Kh"), flush.clone()));
        assert_eq!(hands[2].2.describe(), "pair of twos");
        assert_eq!(steps[4..], [Step::Won { seat: 1, amount: 6, rank: Some(flush) }]);
        assert!(hand.is_over());
        assert_eq!(hand.to_act(), None);
        assert_eq!(hand.legal(), None);
        assert_eq!(hand.pot(), 0);
        assert_eq!(hand.stacks(), vec![Some(CHIPS - 2), Some(CHIPS + 4), Some(CHIPS - 2)]);
        assert_eq!(hand.street(), Street::River);
        assert_eq!(hand.act(1, Action::Check), Err(ActError::Over));
    }

    #[test]
    fn the_last_player_in_wins_at_once() {
        let (mut hand, _) = start(&seats(4), 0, "");
        // Seat 3 raises, the button folds, the small blind folds, the big blind folds.
        let steps = play(&mut hand, &[(3, Action::Raise), (0, Action::Fold), (1, Action::Fold)]);
        assert_eq!(steps[0], Step::Acted { seat: 3, action: Action::Raise, amount: 4 });
        assert!(!hand.in_hand(0));
        assert!(hand.hole_cards(0).is_some());
        let steps = play(&mut hand, &[(2, Action::Fold)]);
        assert_eq!(
            steps,
            vec![
                Step::Acted { seat: 2, action: Action::Fold, amount: 0 },
                Step::Won { seat: 3, amount: 7, rank: None },
            ]
        );
        assert!(hand.is_over());
        assert!(hand.board().is_empty());
        assert_eq!(hand.stacks(), vec![Some(CHIPS), Some(CHIPS - 1), Some(CHIPS - 2), Some(CHIPS + 3)]);
        assert_eq!(hand.timeout_action(), Action::Fold);
    }

    #[test]
    fn folding_out_on_a_later_street_deals_no_more_cards() {
        let (mut hand, _) = start(&seats(2), 0, "");
        let mut steps = play(&mut hand, &[(0, Action::Call), (1, Action::Check), (1, Action::Raise)]);
        steps.extend(play(&mut hand, &[(0, Action::Fold)]));
        assert_eq!(steps.iter().filter(|step| matches!(step, Step::Board { .. })).count(), 1);
        assert_eq!(steps.last(), Some(&Step::Won { seat: 1, amount: 6, rank: None }));
        assert_eq!(hand.board().len(), 3);
        assert_eq!(hand.stacks(), vec![Some(CHIPS - 2), Some(CHIPS + 2)]);
    }

    #[test]
    fn four_bets_cap_a_street() {
        let (mut hand, _) = start(&seats(3), 0, "");
        // The big blind is the first bet: three raises preflop.
        play(&mut hand, &[(0, Action::Raise), (1, Action::Raise)]);
        assert_eq!(hand.legal(), Some(Legal { to_call: 4, can_check: false, can_raise: true, raise_to: 8, bet: 2 }));
        let steps = play(&mut hand, &[(2, Action::Raise)]);
        assert_eq!(steps, vec![Step::Acted { seat: 2, action: Action::Raise, amount: 6 }]);
        assert_eq!(hand.legal().map(|legal| (legal.to_call, legal.can_raise)), Some((4, false)));
        assert_eq!(hand.act(0, Action::Raise), Err(ActError::Illegal(Action::Raise)));
        assert_eq!(hand.act(0, Action::Check), Err(ActError::Illegal(Action::Check)));
        play(&mut hand, &[(0, Action::Call)]);
        assert_eq!(hand.act(1, Action::Raise), Err(ActError::Illegal(Action::Raise)));
        let steps = play(&mut hand, &[(1, Action::Call)]);
        assert!(matches!(steps[1], Step::Board { street: Street::Flop, .. }));
        assert_eq!(hand.pot(), 24);

        // On the flop: a bet and three raises.
        play(&mut hand, &[(1, Action::Raise), (2, Action::Raise), (0, Action::Raise)]);
        assert_eq!(hand.legal().map(|legal| (legal.to_call, legal.can_raise)), Some((4, true)));
        play(&mut hand, &[(1, Action::Raise)]);
        assert_eq!(hand.bet_this_street(1), 8);
        assert_eq!(hand.legal().map(|legal| (legal.to_call, legal.can_raise)), Some((4, false)));
        let steps = play(&mut hand, &[(2, Action::Call), (0, Action::Call)]);
        assert!(matches!(steps[2], Step::Board { street: Street::Turn, .. }));

        // On the turn the bets double.
        play(&mut hand, &[(1, Action::Raise), (2, Action::Raise), (0, Action::Raise), (1, Action::Raise)]);
        assert_eq!(hand.bet_this_street(1), 16);
        assert_eq!(hand.act(2, Action::Raise), Err(ActError::Illegal(Action::Raise)));
        play(&mut hand, &[(2, Action::Call), (0, Action::Call)]);
        play(&mut hand, &[(1, Action::Raise), (2, Action::Raise), (0, Action::Raise), (1, Action::Raise)]);
        let steps = play(&mut hand, &[(2, Action::Call), (0, Action::Call)]);
        assert!(matches!(steps[2], Step::Showdown { .. }));
        // Everybody put in the most a hand can cost.
        let won: u64 = steps
            .iter()
            .map(|step| match step {
                Step::Won { amount, .. } => *amount,
                _ => 0,
            })
            .sum();
        assert_eq!(won, 3 * LIMITS.max_commitment());
        assert_eq!(total(&hand), 3 * CHIPS);
    }

    #[test]
    fn the_big_blind_has_its_option() {
        let (mut hand, _) = start(&seats(3), 0, "");
        play(&mut hand, &[(0, Action::Call), (1, Action::Call)]);
        assert_eq!(hand.to_act(), Some(2));
        assert_eq!(hand.legal(), Some(Legal { to_call: 0, can_check: true, can_raise: true, raise_to: 4, bet: 2 }));
        assert_eq!(hand.timeout_action(), Action::Check);
        let steps = play(&mut hand, &[(2, Action::Raise)]);
        assert_eq!(steps, vec![Step::Acted { seat: 2, action: Action::Raise, amount: 2 }]);
        // The others act again.
        assert_eq!(hand.to_act(), Some(0));
        assert_eq!(hand.timeout_action(), Action::Fold);
        let steps = play(&mut hand, &[(0, Action::Call), (1, Action::Call)]);
        assert!(matches!(steps[2], Step::Board { street: Street::Flop, .. }));
        assert_eq!(hand.pot(), 12);
    }

    #[test]
    fn a_tie_splits_the_pot_and_the_odd_chip_goes_left_of_the_button() {
        // The board is a royal flush that everybody plays.
        let front = "2c 3c 4c 2d 3d 4d As Ks Qs Js Ts";
        let (mut hand, _) = start(&seats(3), 0, front);
        // The small blind folds its chip: the pot is 5.
        play(&mut hand, &[(0, Action::Call), (1, Action::Fold), (2, Action::Check)]);
        for _ in 0..2 {
            play(&mut hand, &[(2, Action::Check), (0, Action::Check)]);
        }
        let steps = play(&mut hand, &[(2, Action::Check), (0, Action::Check)]);
        let royal = rank::best(&parse_cards("As Ks Qs Js Ts"));
        assert_eq!(royal.category(), Category::StraightFlush);
        let Step::Showdown { hands } = &steps[2] else { panic!("{steps:?}") };
        assert_eq!(hands.iter().map(|(seat, _, _)| *seat).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(
            steps[3..],
            [
                Step::Won { seat: 2, amount: 3, rank: Some(royal.clone()) },
                Step::Won { seat: 0, amount: 2, rank: Some(royal) },
            ]
        );
        assert_eq!(hand.stacks(), vec![Some(CHIPS), Some(CHIPS - 1), Some(CHIPS + 1)]);
    }

    #[test]
    fn wrong_seats_and_illegal_actions_change_nothing() {
        let (mut hand, _) = start(&seats(3), 0, "");
        let before = (hand.stacks(), hand.pot(), hand.to_act());
        assert_eq!(hand.act(1, Action::Call), Err(ActError::NotYourTurn(1)));
        assert_eq!(hand.act(7, Action::Fold), Err(ActError::NotYourTurn(7)));
        assert_eq!(hand.act(0, Action::Check), Err(ActError::Illegal(Action::Check)));
        assert_eq!((hand.stacks(), hand.pot(), hand.to_act()), before);

        play(&mut hand, &[(0, Action::Call), (1, Action::Call), (2, Action::Check)]);
        // A call with nothing to call is a check.
        assert_eq!(hand.act(1, Action::Call), Ok(vec![Step::Acted { seat: 1, action: Action::Check, amount: 0 }]));
        // Folding when checking is free is allowed.
        assert_eq!(hand.act(2, Action::Fold), Ok(vec![Step::Acted { seat: 2, action: Action::Fold, amount: 0 }]));
        assert_eq!(hand.to_act(), Some(0));
        assert_eq!(hand.act(2, Action::Check), Err(ActError::NotYourTurn(2)));
    }

    #[test]
    fn hands_that_cannot_start() {
        let deck = || deck_starting_with("");
        assert_eq!(Hand::start(&[Some(CHIPS)], 0, LIMITS, deck()).err(), Some(StartError::NotEnoughPlayers));
        assert_eq!(
            Hand::start(&[None, Some(CHIPS), None], 0, LIMITS, deck()).err(),
            Some(StartError::NotEnoughPlayers)
        );
        assert_eq!(Hand::start(&[], 0, LIMITS, deck()).err(), Some(StartError::NotEnoughPlayers));
        assert_eq!(
            Hand::start(&[Some(CHIPS), None, Some(47)], 0, LIMITS, deck()).err(),
            Some(StartError::ShortStack(2))
        );
        assert!(Hand::start(&[Some(48), Some(48)], 0, LIMITS, deck()).is_ok());
        // Three players need six hole cards and five for the board.
        let short: Vec<Card> = deck().into_iter().take(10).collect();
        assert_eq!(Hand::start(&seats(3), 0, LIMITS, short).err(), Some(StartError::ShortDeck));
        let enough: Vec<Card> = deck().into_iter().take(11).collect();
        assert!(Hand::start(&seats(3), 0, LIMITS, enough).is_ok());
        assert_eq!(StartError::ShortStack(2).to_string(), "seat 2 has fewer chips than one hand can cost");
        assert_eq!(ActError::Illegal(Action::Raise).to_string(), "cannot Raise now");
    }

    #[test]
    fn actions_serialize_in_lowercase() {
        assert_eq!(serde_json::to_string(&Action::Raise).unwrap(), r#""raise""#);
        assert_eq!(serde_json::from_str::<Action>(r#""fold""#).unwrap(), Action::Fold);
        assert_eq!(serde_json::to_string(&Street::Preflop).unwrap(), r#""preflop""#);
        let legal = Legal { to_call: 2, can_check: false, can_raise: true, raise_to: 4, bet: 2 };
        assert_eq!(
            serde_json::to_value(&legal).unwrap(),
            serde_json::json!({"to_call": 2, "can_check": false, "can_raise": true, "raise_to": 4, "bet": 2})
        );
    }

    /// A random action, legal or (now and then) not.
    fn random_action(rng: &mut fastrand::Rng) -> Action {
        [Action::Fold, Action::Check, Action::Call, Action::Raise, Action::Call, Action::Check, Action::Raise]
            [rng.usize(..7)]
    }

    #[test]
    fn random_hands_end_and_keep_every_chip() {
        let mut rng = fastrand::Rng::with_seed(2024);
        let limits = Limits { small_blind: 5, big_blind: 10 };
        let mut showdowns = 0;
        for _ in 0..1_000 {
            let seat_count = rng.usize(2..=10);
            let mut stacks: Vec<Option<u64>> =
                (0..seat_count).map(|_| rng.bool().then(|| rng.u64(240..=2_000))).collect();
            while stacks.iter().flatten().count() < 2 {
                let seat = rng.usize(..seat_count);
                stacks[seat] = Some(240);
            }
            let chips: u64 = stacks.iter().flatten().sum();
            let button = rng.usize(..seat_count);
            let (mut hand, steps) = Hand::start(&stacks, button, limits, shuffled_deck(&mut rng)).unwrap();
            assert_eq!(steps.len(), 2 + stacks.iter().flatten().count());
            let mut won = Vec::new();
            let mut actions = 0;
            while let Some(seat) = hand.to_act() {
                actions += 1;
                assert!(actions < 200, "the hand never ends");
                assert!(hand.in_hand(seat));
                assert_eq!(hand.board().len(), hand.street().board_len());
                let before = (hand.stacks(), hand.pot());
                let action = random_action(&mut rng);
                match hand.act(seat, action) {
                    Ok(steps) => {
                        for step in steps {
                            match step {
                                Step::Won { amount, rank, .. } => won.push((amount, rank.is_some())),
                                Step::Showdown { hands } => {
                                    assert!(hands.len() >= 2);
                                    showdowns += 1;
                                }
                                Step::Board { street, cards } => {
                                    assert_eq!(cards.len(), if street == Street::Flop { 3 } else { 1 });
                                }
                                Step::Acted { .. } => {}
                                other => panic!("{other:?}"),
                            }
                        }
                    }
                    Err(ActError::Illegal(_)) => assert_eq!((hand.stacks(), hand.pot()), before),
                    Err(e) => panic!("{e}"),
                }
                assert_eq!(hand.stacks().iter().flatten().sum::<u64>() + hand.pot(), chips);
                for (now, at_start) in hand.stacks().iter().zip(&stacks) {
                    if let (Some(now), Some(at_start)) = (now, at_start) {
                        assert!(now > at_start || at_start - now <= limits.max_commitment());
                    }
                }
            }
            assert_eq!(hand.pot(), 0);
            assert!(!won.is_empty());
            let by_showdown = won[0].1;
            assert!(won.iter().all(|&(_, shown)| shown == by_showdown));
            assert_eq!(hand.board().len(), if by_showdown { 5 } else { hand.street().board_len() });
            assert!([0, 3, 4, 5].contains(&hand.board().len()));
            if !by_showdown {
                assert_eq!(won.len(), 1);
            }
            assert_eq!(hand.stacks().iter().flatten().sum::<u64>(), chips);
        }
        assert!(showdowns > 50, "only {showdowns} showdowns");
    }
}
