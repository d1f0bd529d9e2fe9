//! Unguessable identifiers from the operating system's randomness: Bayeux client ids, the poker
//! demo's player ids and secrets.

use std::fmt::Write;

/// `bytes` random bytes from the operating system, as lowercase hex; none when it gives none.
pub(crate) fn hex(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).ok()?;
    let mut out = String::with_capacity(2 * bytes);
    for byte in buf {
        let _ = write!(out, "{byte:02x}");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_has_two_digits_per_byte_and_differs_each_time() {
        let (a, b) = (super::hex(16).unwrap(), super::hex(16).unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
