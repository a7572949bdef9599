//! Blob-name patterns of a fault's `match.blob`: `*` stands for any run of characters
//! (`/` included, since blob names are flat), `?` for exactly one; everything else is
//! literal.

/// Whether `name` matches `pattern` as a whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // The classic linear-time walk: on a mismatch, retry from the last `*` with one more
    // character swallowed by it.
    let (mut p, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                last_star = Some((p, n));
                p += 1;
            }
            Some('?') => {
                p += 1;
                n += 1;
            }
            Some(c) if *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match last_star {
                Some((star, swallowed)) => {
                    p = star + 1;
                    n = swallowed + 1;
                    last_star = Some((star, swallowed + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
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
    }
}
