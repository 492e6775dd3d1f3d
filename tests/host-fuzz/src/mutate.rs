//! Deterministic mutations of a corpus, for the crate's tests on any toolchain: the same
//! kinds of edits libFuzzer makes (bit flips, interesting integers, insertions, deletions,
//! splices with another input), driven by a fixed-seed generator so a failure reproduces.

/// Integers a parser treats specially: zero, one, limits, and the ABI's own sizes.
const INTERESTING: [u32; 10] = [
    0,
    1,
    2,
    8,
    0x7F,
    0xFF,
    0xFFFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    4 << 20,
];

/// xorshift64*: small, fast and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced: xorshift needs a nonzero state).
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            usize::try_from(self.next_u64() % bound as u64).unwrap_or(0)
        }
    }
}

/// `input` with one to four random edits; `other` is the input to splice from.
#[must_use]
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = u8::try_from(rng.next_u64() & 0xFF).unwrap_or(0);
            }
            2 if bytes.len() >= 4 => {
                let at = rng.below(bytes.len() - 3);
                let value = INTERESTING[rng.below(INTERESTING.len())];
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            3 => {
                let at = rng.below(bytes.len() + 1);
                let len = 1 + rng.below(8);
                let filler = u8::try_from(rng.next_u64() & 0xFF).unwrap_or(0);
                bytes.splice(at..at, std::iter::repeat_n(filler, len));
            }
            4 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                let len = 1 + rng.below((bytes.len() - at).min(16));
                bytes.drain(at..at + len);
            }
            5 => bytes.truncate(rng.below(bytes.len() + 1)),
            _ if !other.is_empty() => {
                let at = rng.below(bytes.len() + 1);
                let from = rng.below(other.len());
                let len = 1 + rng.below((other.len() - from).min(64));
                bytes.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => {}
        }
    }
    bytes
}
