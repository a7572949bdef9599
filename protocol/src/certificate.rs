//! The VM certificate's thumbprint, as Azure writes it: the guest agent keeps the key pair
//! as `<thumbprint>.crt` and `.prv`, the goal state names the certificate by it, and the
//! extension finds the key that opens its protected settings by it.

use sha1::{Digest, Sha1};

/// SHA-1 of the certificate's DER, upper-case hex: what `openssl x509 -noout -fingerprint
/// -sha1` prints, without the colons.
pub fn thumbprint(der: &[u8]) -> String {
    Sha1::digest(der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_upper_case_sha1() {
        // FIPS 180-2's SHA-1 example ("abc").
        assert_eq!(
            thumbprint(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        assert_eq!(thumbprint(b"").len(), 40);
    }
}
