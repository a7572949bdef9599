//! `base^e mod n` for RSA's public operation, by Montgomery multiplication over 64-bit
//! limbs in buffers allocated once per exponentiation. `BigUint`'s products and divisions
//! allocate at every step and were seven tenths of a minted task; a 2048-bit modulus takes
//! 19 products here (16 squarings, one multiplication by the base, two conversions) and
//! one division, for `R² mod n`.
//!
//! Only public values steer it (the modulus, the exponent); the final subtraction depends
//! on the padded message, as it does in the `rsa` crate's public operation.

use rsa::BigUint;

/// `base^exponent mod modulus`, for an odd modulus (every RSA modulus is odd); `None` for
/// an even one, which Montgomery reduction cannot serve.
pub fn pow_mod_odd(base: &BigUint, exponent: u64, modulus: &BigUint) -> Option<BigUint> {
    let n = limbs(modulus, 0);
    if n[0] & 1 == 0 {
        return None;
    }
    let width = n.len();
    let r_squared = limbs(&((BigUint::from(1u8) << (128 * width)) % modulus), width);
    let context = Montgomery {
        n0_inverse: negated_inverse(n[0]),
        n,
        scratch: vec![0; width + 2],
    };
    Some(context.pow(&limbs(&(base % modulus), width), exponent, &r_squared))
}

/// The little-endian 64-bit limbs of `value`, at least `width` of them.
fn limbs(value: &BigUint, width: usize) -> Vec<u64> {
    let bytes = value.to_bytes_le();
    let mut limbs: Vec<u64> = bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .collect();
    limbs.resize(limbs.len().max(width), 0);
    limbs
}

/// `-n⁻¹ mod 2⁶⁴` for odd `n`: Newton's iteration doubles the correct low bits each step
/// (an odd `n` is its own inverse mod 8, three bits; five steps reach 64).
fn negated_inverse(n: u64) -> u64 {
    let mut inverse = n;
    for _ in 0..5 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(inverse)));
    }
    inverse.wrapping_neg()
}

/// One modulus prepared for Montgomery multiplication with `R = 2^(64·width)`.
struct Montgomery {
    n: Vec<u64>,
    n0_inverse: u64,
    /// `width + 2` limbs: the running product of [`Montgomery::multiply`].
    scratch: Vec<u64>,
}

impl Montgomery {
    /// `base^exponent mod n`, `base < n`, by left-to-right square-and-multiply in
    /// Montgomery form; `r_squared` (`R² mod n`) brings values into it.
    fn pow(mut self, base: &[u64], exponent: u64, r_squared: &[u64]) -> BigUint {
        let width = self.n.len();
        let mut base_form = vec![0; width];
        self.multiply(base, r_squared, &mut base_form);
        let mut result = base_form.clone();
        let mut product = vec![0; width];
        if exponent == 0 {
            // 1 in Montgomery form.
            self.multiply(&one(width), r_squared, &mut result);
        }
        for bit in (0..63u32.saturating_sub(exponent.leading_zeros())).rev() {
            self.multiply(&result, &result, &mut product);
            if exponent >> bit & 1 == 1 {
                self.multiply(&product, &base_form, &mut result);
            } else {
                std::mem::swap(&mut result, &mut product);
            }
        }
        // Out of Montgomery form: multiplying by 1 divides by R.
        self.multiply(&result, &one(width), &mut product);
        let bytes: Vec<u8> = product.iter().flat_map(|limb| limb.to_le_bytes()).collect();
        BigUint::from_bytes_le(&bytes)
    }

    /// `out = a·b·R⁻¹ mod n` for `a, b < n` (coarsely integrated operand scanning).
    fn multiply(&mut self, a: &[u64], b: &[u64], out: &mut [u64]) {
        let n = &self.n;
        let width = n.len();
        let t = &mut self.scratch;
        t.fill(0);
        for &b_limb in b {
            let mut carry = 0u128;
            for (t_limb, &a_limb) in t.iter_mut().zip(a) {
                let sum = u128::from(*t_limb) + u128::from(a_limb) * u128::from(b_limb) + carry;
                *t_limb = sum as u64;
                carry = sum >> 64;
            }
            let sum = u128::from(t[width]) + carry;
            t[width] = sum as u64;
            t[width + 1] = (sum >> 64) as u64;
            // Adding m·n makes the lowest limb zero; shifting by one limb divides by 2⁶⁴.
            let m = t[0].wrapping_mul(self.n0_inverse);
            let mut carry = (u128::from(t[0]) + u128::from(m) * u128::from(n[0])) >> 64;
            for j in 1..width {
                let sum = u128::from(t[j]) + u128::from(m) * u128::from(n[j]) + carry;
                t[j - 1] = sum as u64;
                carry = sum >> 64;
            }
            let sum = u128::from(t[width]) + carry;
            t[width - 1] = sum as u64;
            t[width] = t[width + 1] + (sum >> 64) as u64;
            t[width + 1] = 0;
        }
        // The product is below 2n: one subtraction at most brings it below n.
        if t[width] != 0 || !less_than(&t[..width], n) {
            let mut borrow = false;
            for (limb, &n_limb) in t[..width].iter_mut().zip(n) {
                let (difference, under) = limb.overflowing_sub(n_limb);
                let (difference, under_again) = difference.overflowing_sub(u64::from(borrow));
                *limb = difference;
                borrow = under || under_again;
            }
        }
        out.copy_from_slice(&t[..width]);
    }
}

fn one(width: usize) -> Vec<u64> {
    let mut one = vec![0; width];
    one[0] = 1;
    one
}

/// `a < b` for little-endian limbs of the same width.
fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (a, b) in a.iter().rev().zip(b.iter().rev()) {
        if a != b {
            return a < b;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    /// Odd moduli of one limb, of a width that is not a power of two, of RSA's 2048 and
    /// 4096 bits, and with high limbs all ones (the carries' worst case), against
    /// `BigUint::modpow`.
    #[test]
    fn matches_modpow_on_odd_moduli_of_every_width() {
        let mut rng = rand::thread_rng();
        let mut cases: Vec<Vec<u8>> = [8usize, 136, 256, 512]
            .iter()
            .map(|&len| {
                let mut bytes = vec![0u8; len];
                rng.fill_bytes(&mut bytes);
                bytes[0] |= 0x80;
                bytes[len - 1] |= 1;
                bytes
            })
            .collect();
        cases.push(vec![0xFF; 256]);
        for modulus in cases {
            let modulus = BigUint::from_bytes_be(&modulus);
            for exponent in [0u64, 1, 2, 3, 65_537, (1 << 33) - 1, u64::MAX] {
                let mut base = vec![0u8; modulus.bits() / 8 + 2];
                rng.fill_bytes(&mut base);
                let base = BigUint::from_bytes_be(&base);
                assert_eq!(
                    pow_mod_odd(&base, exponent, &modulus),
                    Some(base.modpow(&BigUint::from(exponent), &modulus)),
                    "{base:x}^{exponent} mod {modulus:x}"
                );
            }
        }
    }

    #[test]
    fn even_moduli_are_refused() {
        assert_eq!(
            pow_mod_odd(&BigUint::from(3u8), 3, &BigUint::from(10u8)),
            None
        );
    }

    #[test]
    fn the_negated_inverse_undoes_the_low_limb() {
        for n in [1u64, 3, 0xFFFF_FFFF_FFFF_FFFF, 0x1234_5678_9ABC_DEF1] {
            assert_eq!(n.wrapping_mul(negated_inverse(n)), u64::MAX, "n = {n:#x}");
        }
    }
}
