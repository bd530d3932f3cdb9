//! [`Checksum`]: an object's SHA-256, held as its 32 bytes.
//!
//! Trees of a million files hold a checksum per object in several places (inventory, plan,
//! components); as 64-digit hex `String`s each copy was ~100 bytes and a heap allocation,
//! as bytes it is 32, `Copy`, and compares with one 32-byte `memcmp`. Bytes order exactly
//! as their lowercase hex does, so every "sorted by checksum" stays the same order. Text
//! (JSON, errors, tar paths) always shows the lowercase hex form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A content or metadata object checksum (SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// The bytes as four big-endian words: comparing them in order is comparing the bytes.
    fn words(&self) -> [u64; 4] {
        let w = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.0[8 * i..8 * i + 8]);
            u64::from_be_bytes(b)
        };
        [w(0), w(1), w(2), w(3)]
    }
}

/// Byte order, compared a word at a time: the derived order calls `memcmp` for every
/// comparison, which was 10% of all CPU on a tree of 300k small files (binary searches).
impl Ord for Checksum {
    fn cmp(&self, other: &Checksum) -> std::cmp::Ordering {
        self.words().cmp(&other.words())
    }
}

impl PartialOrd for Checksum {
    fn partial_cmp(&self, other: &Checksum) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A checksum's 64 lowercase hex digits, without a heap allocation.
#[derive(Clone, Copy)]
pub struct Hex([u8; 64]);

impl std::ops::Deref for Hex {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII hex digits are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

impl Checksum {
    /// From 32 raw bytes (as dirtree objects hold them); `None` for any other length.
    pub fn from_bytes(b: &[u8]) -> Option<Checksum> {
        b.try_into().ok().map(Checksum)
    }

    /// From exactly 64 lowercase hex digits (the only form ostree names objects by).
    pub fn from_hex(s: &str) -> Option<Checksum> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = digit(s[2 * i])? << 4 | digit(s[2 * i + 1])?;
        }
        Some(Checksum(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The lowercase hex form.
    pub fn hex(&self) -> Hex {
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        Hex(out)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::str::FromStr for Checksum {
    type Err = String;
    fn from_str(s: &str) -> Result<Checksum, String> {
        Checksum::from_hex(s)
            .ok_or_else(|| format!("{s:?} is not a checksum (64 lowercase hex digits)"))
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Checksum, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_orders_like_the_text() {
        let texts = [
            "0".repeat(64),
            format!("{}1", "0".repeat(63)),
            "09".repeat(32),
            "0a".repeat(32),
            "a0".repeat(32),
            "f".repeat(64),
        ];
        let sums: Vec<Checksum> = texts.iter().map(|t| t.parse().expect("hex")).collect();
        for (t, c) in texts.iter().zip(&sums) {
            assert_eq!(&c.to_string(), t);
            assert_eq!(&*c.hex(), t.as_str());
        }
        let mut sorted = sums.clone();
        sorted.sort();
        assert_eq!(sorted, sums, "byte order is hex order");
        // Word-wise order is byte order, wherever the bytes differ.
        let mut x: u64 = 1;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        };
        for i in 0..32 {
            let (mut a, mut b) = ([0x55u8; 32], [0x55u8; 32]);
            b[i] = 0x56;
            for k in i + 1..32 {
                (a[k], b[k]) = (next(), next());
            }
            let (a, b) = (Checksum(a), Checksum(b));
            assert!(a < b, "byte {i}");
            assert_eq!(a.cmp(&b), a.0.cmp(&b.0), "byte {i}");
        }
    }

    #[test]
    fn only_64_lowercase_hex_digits_parse() {
        for bad in [
            String::new(),
            "a".repeat(63),
            "a".repeat(65),
            "A".repeat(64),
            format!("{}g", "a".repeat(63)),
            format!("{}é", "a".repeat(62)),
        ] {
            assert!(Checksum::from_hex(&bad).is_none(), "{bad:?}");
        }
        assert!(Checksum::from_bytes(&[0; 31]).is_none());
        assert_eq!(
            Checksum::from_bytes(&[0xab; 32]).map(|c| c.to_string()),
            Some("ab".repeat(32))
        );
    }

    #[test]
    fn serde_uses_the_hex_form() {
        let c: Checksum = "ab".repeat(32).parse().expect("hex");
        let json = serde_json::to_string(&c).expect("json");
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Checksum>(&json).expect("back"), c);
        assert!(serde_json::from_str::<Checksum>("\"abc\"").is_err());
    }
}
