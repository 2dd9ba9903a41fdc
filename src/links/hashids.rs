//! Hashids for link ids, byte-for-byte compatible with npm `hashids` 2.2.8, so that
//! short links minted by the Node version of Blink keep resolving to the same ids.
//!
//! Blink only ever uses npm's default alphabet and separators and encodes one id per
//! hash, so every table has a size known at compile time: encoding and decoding run
//! on stack arrays and `decode` does not allocate at all.
//!
//! The salt is read by Unicode code point, as npm 2.2.8 does (`Array.from(salt)` and
//! `codePointAt`), so even non-ASCII salts give npm's hashes; for the ASCII hosts used
//! as salts today this is the same as reading bytes.

/// npm's default alphabet.
const DEFAULT_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890";
/// npm's default separators; all of them are in the default alphabet.
const DEFAULT_SEPS: &[u8] = b"cfhistuCFHISTU";
/// Alphabet characters left once the separators are taken out.
const UNSEPARATED_LEN: usize = DEFAULT_ALPHABET.len() - DEFAULT_SEPS.len();
/// npm takes one guard per 12 characters of the unseparated alphabet, rounding up.
const GUARDS_LEN: usize = UNSEPARATED_LEN.div_ceil(12);
/// The alphabet that digits and padding are drawn from.
const ALPHABET_LEN: usize = UNSEPARATED_LEN - GUARDS_LEN;
/// Padding puts the back part of a reshuffled alphabet before the hash and this many
/// characters from its front after it (npm's `halfLength`).
const HALF: usize = ALPHABET_LEN / 2;
/// Enough base-`ALPHABET_LEN` digits for any `u64`.
const MAX_DIGITS: usize = 12;
/// The default alphabet without the separators, in npm's order, before any shuffling.
const UNSEPARATED: [u8; UNSEPARATED_LEN] = unseparated_alphabet();

// npm moves alphabet characters into the separators when the alphabet is more than
// 3.5 times longer; with the defaults (48 vs 14) it does not, so there is no such step.
const _: () = assert!(UNSEPARATED_LEN * 2 <= DEFAULT_SEPS.len() * 7);
// npm takes the guards from the separators instead when the alphabet is shorter than 3.
const _: () = assert!(UNSEPARATED_LEN >= 3);
const _: () = assert!((ALPHABET_LEN as u128).pow(MAX_DIGITS as u32) > u64::MAX as u128);

const fn unseparated_alphabet() -> [u8; UNSEPARATED_LEN] {
    let mut out = [0; UNSEPARATED_LEN];
    let mut len = 0;
    let mut i = 0;
    while i < DEFAULT_ALPHABET.len() {
        let c = DEFAULT_ALPHABET[i];
        let mut is_sep = false;
        let mut s = 0;
        while s < DEFAULT_SEPS.len() {
            is_sep |= DEFAULT_SEPS[s] == c;
            s += 1;
        }
        if !is_sep {
            // Out of bounds here is a compile error: a separator missing from the alphabet.
            out[len] = c;
            len += 1;
        }
        i += 1;
    }
    assert!(len == UNSEPARATED_LEN);
    out
}

/// What an ASCII character is to a hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Invalid,
    Digit,
    Separator,
    Guard,
}

/// Encodes and decodes link ids as hashids, compatible with npm hashids 2.2.8.
#[derive(Clone, Debug)]
pub struct Hashids {
    /// Salt code points, which key the per-hash shuffle of `alphabet`.
    salt: Box<[u32]>,
    min_length: usize,
    /// The salted alphabet, before the per-hash shuffle.
    alphabet: [u8; ALPHABET_LEN],
    guards: [u8; GUARDS_LEN],
    /// Kind of each ASCII character. Separators only matter for telling them apart:
    /// their salted order is used only between several numbers, which Blink never encodes.
    kinds: [Kind; 128],
}

/// The unpadded hash of one id: lottery character then digits.
struct Core {
    /// npm's `numbersIdInt`, which also picks the guards.
    id_mod: usize,
    lottery: u8,
    /// The digit alphabet, which padding keeps reshuffling.
    alphabet: [u8; ALPHABET_LEN],
    digits: [u8; MAX_DIGITS],
    /// Index of the most significant digit; there is always at least one.
    first_digit: usize,
}

impl Core {
    fn new(id: u64, lottery: u8, alphabet: [u8; ALPHABET_LEN]) -> Self {
        let mut digits = [0; MAX_DIGITS];
        let mut first_digit = MAX_DIGITS;
        let mut rest = id;
        loop {
            first_digit -= 1;
            digits[first_digit] = alphabet[(rest % ALPHABET_LEN as u64) as usize];
            rest /= ALPHABET_LEN as u64;
            if rest == 0 {
                break;
            }
        }
        Self { id_mod: (id % 100) as usize, lottery, alphabet, digits, first_digit }
    }

    fn digits(&self) -> &[u8] {
        &self.digits[self.first_digit..]
    }
}

impl Hashids {
    /// Builds an encoder for `salt` that pads every hash to at least `min_length` characters.
    pub fn new(salt: &str, min_length: usize) -> Self {
        let salt: Box<[u32]> = salt.chars().map(u32::from).collect();
        let mut salted = UNSEPARATED;
        shuffle(&mut salted, salt.len(), |v| salt[v]);
        let guards: [u8; GUARDS_LEN] = std::array::from_fn(|i| salted[i]);
        let alphabet: [u8; ALPHABET_LEN] = std::array::from_fn(|i| salted[GUARDS_LEN + i]);

        let mut kinds = [Kind::Invalid; 128];
        for (chars, kind) in [(DEFAULT_SEPS, Kind::Separator), (&guards[..], Kind::Guard), (&alphabet[..], Kind::Digit)]
        {
            for &c in chars {
                kinds[usize::from(c)] = kind;
            }
        }

        Self { salt, min_length, alphabet, guards, kinds }
    }

    /// Encodes one id.
    pub fn encode(&self, id: u64) -> String {
        let lottery = self.lottery(id);
        let core = Core::new(id, lottery, self.digit_alphabet(lottery));
        let mut out = vec![0; self.hash_len(&core)];
        self.render(&core, |pos, c| {
            *out.get_mut(pos)? = c;
            Some(())
        });
        out.into_iter().map(char::from).collect()
    }

    /// Decodes a hash made by `encode`; `None` for anything else.
    pub fn decode(&self, hash: &str) -> Option<u64> {
        let bytes = hash.as_bytes();
        // npm throws on characters outside its alphabets (Node Blink bug #814); any
        // non-ASCII byte is outside too, so bytes are as good as chars here.
        if bytes.is_empty() || bytes.iter().any(|&c| self.kind(c) == Kind::Invalid) {
            return None;
        }

        // Like npm: with one or two guards the body follows the first guard, otherwise
        // it is everything before the first guard. The final re-encode rejects the rest.
        let mut guards = (0..bytes.len()).filter(|&i| self.kind(bytes[i]) == Kind::Guard);
        let body = match (guards.next(), guards.next(), guards.next()) {
            (None, ..) => bytes,
            (Some(a), None, _) => bytes.get(a + 1..)?,
            (Some(a), Some(b), None) => bytes.get(a + 1..b)?,
            (Some(a), Some(_), Some(_)) => bytes.get(..a)?,
        };
        let (&lottery, digits) = body.split_first()?;
        // A separator would start a second number.
        if digits.iter().any(|&c| self.kind(c) != Kind::Digit) {
            return None;
        }

        let alphabet = self.digit_alphabet(lottery);
        let id = digits.iter().try_fold(0u64, |acc, &c| {
            let digit = alphabet.iter().position(|&a| a == c)?;
            acc.checked_mul(ALPHABET_LEN as u64)?.checked_add(digit as u64)
        })?;

        // npm's own check: many strings parse to an id without being its hash.
        if self.lottery(id) != lottery {
            return None;
        }
        let core = Core::new(id, lottery, alphabet);
        if self.hash_len(&core) != bytes.len() {
            return None;
        }
        self.render(&core, |pos, c| (bytes.get(pos) == Some(&c)).then_some(()))?;
        Some(id)
    }

    fn kind(&self, c: u8) -> Kind {
        self.kinds.get(usize::from(c)).copied().unwrap_or(Kind::Invalid)
    }

    fn lottery(&self, id: u64) -> u8 {
        self.alphabet[(id % 100) as usize % ALPHABET_LEN]
    }

    /// The alphabet npm writes the digits in, which depends on the hash's lottery character.
    fn digit_alphabet(&self, lottery: u8) -> [u8; ALPHABET_LEN] {
        // npm's key is lottery + salt + alphabet, of which only the first
        // `ALPHABET_LEN - 1` items are ever reached.
        let salt = &self.salt;
        let mut alphabet = self.alphabet;
        shuffle(&mut alphabet, 1 + salt.len() + ALPHABET_LEN, |v| match v {
            0 => u32::from(lottery),
            v if v <= salt.len() => salt[v - 1],
            v => u32::from(self.alphabet[v - 1 - salt.len()]),
        });
        alphabet
    }

    fn hash_len(&self, core: &Core) -> usize {
        self.min_length.max(1 + core.digits().len())
    }

    /// Passes each character of the hash of `core` to `put` with its position, in no
    /// particular order, stopping early when `put` returns `None`.
    ///
    /// npm builds the hash by prepending and appending and then trimming the middle;
    /// computing final positions instead lets `decode` compare without a buffer.
    fn render(&self, core: &Core, mut put: impl FnMut(usize, u8) -> Option<()>) -> Option<()> {
        let min = self.min_length;
        let digits = core.digits();
        let unguarded = 1 + digits.len();
        let prefix = (unguarded < min).then(|| self.guards[(core.id_mod + usize::from(core.lottery)) % GUARDS_LEN]);
        // npm picks this one by the character after the lottery: the first digit.
        let suffix = (unguarded + 1 < min).then(|| self.guards[(core.id_mod + usize::from(digits[0])) % GUARDS_LEN]);
        let guarded = unguarded + usize::from(prefix.is_some()) + usize::from(suffix.is_some());

        // Each padding round adds a whole alphabet; only the last round overshoots,
        // and npm then keeps `min` characters starting at half the excess, rounded down.
        let rounds = min.saturating_sub(guarded).div_ceil(ALPHABET_LEN);
        let len = guarded.max(min);
        let skip = (guarded + rounds * ALPHABET_LEN - len) / 2;
        let mut emit = |untrimmed: usize, c: u8| match untrimmed.checked_sub(skip) {
            Some(pos) if pos < len => put(pos, c),
            _ => Some(()),
        };

        let core_start = rounds * (ALPHABET_LEN - HALF);
        let core_chars = prefix.into_iter().chain([core.lottery]).chain(digits.iter().copied()).chain(suffix);
        for (i, c) in core_chars.enumerate() {
            emit(core_start + i, c)?;
        }

        let mut alphabet = core.alphabet;
        for round in 1..=rounds {
            let key = alphabet;
            shuffle(&mut alphabet, ALPHABET_LEN, |v| u32::from(key[v]));
            let (front, back) = alphabet.split_at(HALF);
            let back_start = core_start - round * back.len();
            for (i, &c) in back.iter().enumerate() {
                emit(back_start + i, c)?;
            }
            let front_start = core_start + guarded + (round - 1) * front.len();
            for (i, &c) in front.iter().enumerate() {
                emit(front_start + i, c)?;
            }
        }
        Some(())
    }
}

/// npm's "consistent shuffle" of `chars`, keyed by the code points `key(0..key_len)`;
/// an empty key leaves `chars` as it is.
fn shuffle(chars: &mut [u8], key_len: usize, key: impl Fn(usize) -> u32) {
    if key_len == 0 {
        return;
    }
    // At most 47 steps of code points up to 0x10FFFF: `p` stays far below 2^32.
    let mut p = 0usize;
    for (step, i) in (1..chars.len()).rev().enumerate() {
        let v = step % key_len;
        let integer = key(v) as usize;
        p += integer;
        chars.swap(i, (integer + v + p) % i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Salt used by the hashids test suite and Node Blink's own tests.
    const TEST_SALT: &str = "test-long.com";

    #[test]
    fn matches_npm_vectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hashids-2.2.8-vectors.tsv");
        let data = std::fs::read_to_string(path).expect("vector file is readable");
        let mut checked = 0;
        for line in data.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [salt, min_length, id, hash] = fields[..] else {
                panic!("malformed vector line: {line:?}");
            };
            let salt = if salt == "<empty>" { "" } else { salt };
            let min_length: usize = min_length.parse().expect("min_length is a number");
            let id: u64 = id.parse().expect("id is a number");

            let hashids = Hashids::new(salt, min_length);
            assert_eq!(hashids.encode(id), hash, "encode: {line}");
            assert_eq!(hashids.decode(hash), Some(id), "decode: {line}");
            checked += 1;
        }
        eprintln!("checked {checked} npm hashids 2.2.8 vectors");
        assert_eq!(checked, 375);
    }

    #[test]
    fn matches_npm_known_vectors() {
        let hashids = Hashids::new(TEST_SALT, 4);
        for (id, hash) in [(1, "4rEb"), (2, "8VDb"), (100_000, "1n6BZ")] {
            assert_eq!(hashids.encode(id), hash);
            assert_eq!(hashids.decode(hash), Some(id));
        }
    }

    #[test]
    fn matches_npm_beyond_vector_file() {
        // Produced with npm hashids 2.2.8: several padding rounds, u64::MAX (passed as
        // a BigInt) and salts with multi-byte code points.
        let cases: [(&str, usize, u64, &str); 9] = [
            (TEST_SALT, 0, u64::MAX, "mW0EZB2kZ6nPW"),
            (TEST_SALT, 60, 7, "2ADNGeJVGWR37eEwrvpAd0jZ6oqmYB7bOMnX5Dkl1NgLxKzQ2ayB9Pl5jQLP"),
            (
                TEST_SALT,
                100,
                123_456_789,
                "e9m16VnyzpkBrxgOPZ2EvL5o7Zjoq3N51WRwyMdnOgkJEQ4rM3QrNbxzGB9lXPv602mpAeaLDrKVA907qMDGa3QKeRXJjwdlWNQD",
            ),
            ("localhost:3000", 45, 0, "49yzpG7XnOBL56mWoq3gAxJ2xKevJkDwj8r1Mb2ZdaQVl"),
            ("localhost:3000", 49, 99, "BrO1ZqK9jElV4DpmPAokwJxgvmYL5dQgeXNvG7zny6Wb8a23M"),
            ("héllo😀", 0, 12345, "0r93"),
            ("héllo😀", 10, 1, "4kgv0dv8M7"),
            ("𝒳", 6, 42, "6bpB4J"),
            (TEST_SALT, 4, 12345, "raBO"),
        ];
        for (salt, min_length, id, hash) in cases {
            let hashids = Hashids::new(salt, min_length);
            assert_eq!(hashids.encode(id), hash, "{salt} {min_length} {id}");
            assert_eq!(hashids.decode(hash), Some(id), "{salt} {min_length} {hash}");
        }
    }

    #[test]
    fn decode_rejects_characters_outside_alphabet() {
        for min_length in [0, 4, 8] {
            let hashids = Hashids::new(TEST_SALT, min_length);
            for hash in
                ["a-b_c", "my_slug", "x-y", "x_y", "é", "😀", "4rEb ", " 4rEb", "4rEb\n", "4r\0Eb", "4r.b", "4rEbé"]
            {
                assert_eq!(hashids.decode(hash), None, "{hash:?} with min {min_length}");
            }
        }
    }

    #[test]
    fn decode_rejects_non_canonical_hash() {
        let hashids = Hashids::new(TEST_SALT, 4);
        // npm returns [] for these: a changed lottery, a hash of another salt, and
        // digits that parse but were never the hash of what they parse to.
        for hash in ["4rEc", "5rEb", "Xj3l", "raBB", "ZaBO", "raBOr"] {
            assert_eq!(hashids.decode(hash), None, "{hash}");
        }

        // Hashids is no checksum: some typos are other ids' hashes, but decode only
        // ever returns an id whose hash is exactly the input.
        let hash = hashids.encode(12345);
        let alphabet = std::str::from_utf8(DEFAULT_ALPHABET).expect("alphabet is ASCII");
        for pos in 0..hash.len() {
            for c in alphabet.chars() {
                let mut changed = hash.clone();
                changed.replace_range(pos..=pos, c.encode_utf8(&mut [0; 4]));
                if changed == hash {
                    continue;
                }
                if let Some(id) = hashids.decode(&changed) {
                    assert_ne!(id, 12345, "{changed}");
                    assert_eq!(hashids.encode(id), changed);
                }
            }
        }
        // npm finds exactly this typo to be id 4601's hash too.
        assert_eq!(hashids.decode("rjBO"), Some(4601));
    }

    #[test]
    fn decode_rejects_several_numbers() {
        // npm hashids 2.2.8 encodes [1, 2] with this salt as "onuZ".
        assert_eq!(Hashids::new(TEST_SALT, 4).decode("onuZ"), None);
    }

    #[test]
    fn decode_rejects_numbers_beyond_u64() {
        // npm hashids 2.2.8 encodes BigInt 2^64 with this salt as "JN3BrLnDrP6Om".
        let hashids = Hashids::new(TEST_SALT, 0);
        assert_eq!(hashids.decode("JN3BrLnDrP6Om"), None);
        assert_eq!(hashids.decode(&"x".repeat(1000)), None);
    }

    #[test]
    fn decode_rejects_empty() {
        for min_length in [0, 4] {
            assert_eq!(Hashids::new(TEST_SALT, min_length).decode(""), None);
            assert_eq!(Hashids::new("", min_length).decode(""), None);
        }
    }

    #[test]
    fn round_trips_ids_up_to_2_pow_53() {
        let mut ids: Vec<u64> = (0..2_000).collect();
        ids.extend((0..=53).flat_map(|bit| {
            let power = 1u64 << bit;
            [power - 1, power, power + 1]
        }));
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        ids.extend((0..2_000).map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        }));
        for salt in ["", TEST_SALT, "localhost:3000"] {
            for min_length in [0, 1, 4, 8, 20, 45, 100] {
                let hashids = Hashids::new(salt, min_length);
                for &id in &ids {
                    let hash = hashids.encode(id);
                    assert!(hash.len() >= min_length, "{salt} {min_length} {id}");
                    assert_eq!(hashids.decode(&hash), Some(id), "{salt} {min_length} {hash}");
                }
            }
        }
    }
}
