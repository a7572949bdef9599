//! ARM names: matched case-insensitively, returned as created. Lookups use the lower-cased
//! key.

/// The key a name is looked up by.
pub fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}
