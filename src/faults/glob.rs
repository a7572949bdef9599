//! Blob-name patterns of a fault's `match.blob`: `*` stands for any run of characters
//! (`/` included, since blob names are flat), `?` for exactly one; everything else is
//! literal.

/// Whether `name` matches `pattern` as a whole. Every blob request checks each blob fault
/// in force, so the common case (ASCII on both sides, as blob names almost always are)
/// walks the bytes as they are; otherwise `?` must stand for one character, not one byte.
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern.is_ascii() && name.is_ascii() {
        walk(pattern.as_bytes(), name.as_bytes(), b'*', b'?')
    } else {
        let pattern: Vec<char> = pattern.chars().collect();
        let name: Vec<char> = name.chars().collect();
        walk(&pattern, &name, '*', '?')
    }
}

/// The classic linear-time walk: on a mismatch, retry from the last `*` with one more
/// symbol swallowed by it.
fn walk<T: Copy + PartialEq>(pattern: &[T], name: &[T], star: T, one: T) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(&c) if c == star => {
                last_star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == one || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match last_star {
                Some((at, swallowed)) => {
                    p = at + 1;
                    n = swallowed + 1;
                    last_star = Some((at, swallowed + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*", ""));
        assert!(matches("*", "a/b/c.vhd"));
        assert!(matches("disk-*.vhd", "disk-0.vhd"));
        assert!(matches("disk-*.vhd", "disk-.vhd"));
        assert!(!matches("disk-*.vhd", "disk-0.vhdx"));
        assert!(matches("vm?/disk*", "vm1/disk-os"));
        assert!(!matches("vm?/disk*", "vm12/disk-os"));
        assert!(matches("*a*b", "xxaxxbxb"));
        assert!(!matches("*a*b", "xxaxxbxc"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("é?", "éß"));
        assert!(!matches("é?", "éßx"));
        assert!(matches("*.status", "0f3c-task.status"));
        assert!(!matches("*.status", "0f3c-task.log"));
    }
}
