//! The [`Ticket`] that names one pended request (a data request or ACCEPT on an endpoint, or a
//! RESOLVE on a worker thread), and its encoding into the plain words a shell keeps in the
//! request (an IRP's `DriverContext`, a framework request's context).
//!
//! The shell stores [`Ticket::to_words`] when the core arms cancellation and hands
//! [`Ticket::from_words`] back on cancel. The words carry a check word, so a corrupt or
//! never-written context is refused rather than read as another request.

use wskrs_protocol::EndpointId;

/// The two directions of an endpoint's data path (a parked ACCEPT counts as receive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// SEND, SEND_TO; TRANSACT (its ticket keeps this direction through its reply).
    Send,
    /// RECV, RECV_FROM, ACCEPT.
    Receive,
}

impl Direction {
    /// The other direction.
    pub(crate) const fn other(self) -> Self {
        match self {
            Self::Send => Self::Receive,
            Self::Receive => Self::Send,
        }
    }

    const fn to_word(self) -> u64 {
        match self {
            Self::Send => 0,
            Self::Receive => 1,
        }
    }

    const fn from_word(word: u64) -> Option<Self> {
        match word {
            0 => Some(Self::Send),
            1 => Some(Self::Receive),
            _ => None,
        }
    }
}

/// The driver-wide number of a pended request: tells a request from the next one on the
/// same endpoint and direction, so a late cancel never hits its successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequence(pub(crate) u64);

/// Names one pended request, for cancellation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ticket {
    /// A data request or a parked ACCEPT on an endpoint.
    Data(DataTicket),
    /// A RESOLVE running on a worker thread.
    Resolve(Sequence),
}

/// Names a data request (or a parked ACCEPT): its endpoint, direction and number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataTicket {
    /// The endpoint the request runs on.
    pub endpoint: EndpointId,
    /// Which of its directions.
    pub direction: Direction,
    /// Which request of that direction.
    pub sequence: Sequence,
}

/// The direction word of a RESOLVE's ticket (its endpoint word is 0, never an endpoint id).
const RESOLVE_WORD: u64 = 2;

/// Mixed into the check word so that all-zero words are not a valid encoding.
const CHECK_SEED: u64 = 0x5753_4B52_5449_434B; // "WSKRTICK"
/// An odd multiplier: multiplying by it is a bijection of u64, so the check word changes
/// whenever exactly one other word does.
const CHECK_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// The check word of the first three words. Each of rotate, xor with the other words and
/// multiplication by an odd number is a bijection, so two encodings that differ in exactly
/// one of the three words have different check words.
const fn check_word(endpoint: u64, direction: u64, sequence: u64) -> u64 {
    (endpoint ^ direction.rotate_left(29) ^ sequence.rotate_left(43) ^ CHECK_SEED)
        .wrapping_mul(CHECK_MULTIPLIER)
}

impl Ticket {
    /// How many words the encoding takes (an IRP's `DriverContext` has four pointer-sized
    /// slots).
    pub const WORDS: usize = 4;

    /// The plain words a shell stores: endpoint id, direction (0 send, 1 receive), sequence,
    /// check word; a RESOLVE's are 0, 2, sequence, check word. IRQL: any.
    #[must_use]
    pub const fn to_words(self) -> [u64; Self::WORDS] {
        let (endpoint, direction, sequence) = match self {
            Self::Data(data) => (data.endpoint.0, data.direction.to_word(), data.sequence.0),
            Self::Resolve(sequence) => (0, RESOLVE_WORD, sequence.0),
        };
        [
            endpoint,
            direction,
            sequence,
            check_word(endpoint, direction, sequence),
        ]
    }

    /// The ticket [`Ticket::to_words`] encoded, or `None` if the words are not such an
    /// encoding (endpoint id 0 with a direction other than the RESOLVE word, a direction
    /// other than 0 or 1, or a wrong check word). IRQL: any.
    #[must_use]
    pub const fn from_words(words: [u64; Self::WORDS]) -> Option<Self> {
        let [endpoint, direction, sequence, check] = words;
        if check != check_word(endpoint, direction, sequence) {
            return None;
        }
        if endpoint == 0 && direction == RESOLVE_WORD {
            return Some(Self::Resolve(Sequence(sequence)));
        }
        let Some(endpoint) = EndpointId::new(endpoint) else {
            return None;
        };
        let Some(direction) = Direction::from_word(direction) else {
            return None;
        };
        Some(Self::Data(DataTicket {
            endpoint,
            direction,
            sequence: Sequence(sequence),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(endpoint: u64, direction: Direction, sequence: u64) -> Ticket {
        Ticket::Data(DataTicket {
            endpoint: EndpointId(endpoint),
            direction,
            sequence: Sequence(sequence),
        })
    }

    const SAMPLES: [(u64, u64); 6] = [
        (1, 1),
        (7, 2),
        (0x0001_0000_0000_0003, 41),
        (u64::MAX, u64::MAX),
        (u64::MAX, 0),
        (42, 1 << 63),
    ];

    #[test]
    fn words_round_trip() {
        for (endpoint, sequence) in SAMPLES {
            for direction in [Direction::Send, Direction::Receive] {
                let original = ticket(endpoint, direction, sequence);
                let words = original.to_words();
                assert_eq!(words[0], endpoint);
                assert_eq!(words[1], u64::from(direction == Direction::Receive));
                assert_eq!(words[2], sequence);
                assert_eq!(Ticket::from_words(words), Some(original));
            }
        }
    }

    #[test]
    fn resolve_tickets_round_trip_and_a_changed_word_is_refused() {
        for (_, sequence) in SAMPLES {
            let words = Ticket::Resolve(Sequence(sequence)).to_words();
            assert_eq!(words[..2], [0, RESOLVE_WORD]);
            assert_eq!(
                Ticket::from_words(words),
                Some(Ticket::Resolve(Sequence(sequence)))
            );
            for index in 0..Ticket::WORDS {
                let mut corrupt = words;
                corrupt[index] ^= 1;
                assert_eq!(
                    Ticket::from_words(corrupt),
                    None,
                    "word {index} of {words:x?}"
                );
            }
        }
        // The RESOLVE word with an endpoint: neither kind.
        assert_eq!(Ticket::from_words([3, 2, 5, check_word(3, 2, 5)]), None);
    }

    #[test]
    fn zeroed_words_are_refused() {
        assert_eq!(Ticket::from_words([0; Ticket::WORDS]), None);
    }

    #[test]
    fn a_changed_word_is_refused() {
        for (endpoint, sequence) in SAMPLES {
            for direction in [Direction::Send, Direction::Receive] {
                let words = ticket(endpoint, direction, sequence).to_words();
                for index in 0..Ticket::WORDS {
                    for flip in [1u64, 2, 1 << 31, 1 << 63, u64::MAX] {
                        let mut corrupt = words;
                        corrupt[index] ^= flip;
                        assert_eq!(
                            Ticket::from_words(corrupt),
                            None,
                            "word {index} ^ {flip:#x} of {words:x?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_fields_are_refused_even_with_a_matching_check_word() {
        // Endpoint 0: never a valid id.
        let zero_endpoint = [0, 1, 5, check_word(0, 1, 5)];
        assert_eq!(Ticket::from_words(zero_endpoint), None);
        // Direction 2: neither send nor receive.
        let bad_direction = [3, 2, 5, check_word(3, 2, 5)];
        assert_eq!(Ticket::from_words(bad_direction), None);
        // The same words with a valid direction are accepted: the refusal was the direction.
        let good = [3, 1, 5, check_word(3, 1, 5)];
        assert_eq!(
            Ticket::from_words(good),
            Some(ticket(3, Direction::Receive, 5))
        );
    }
}
