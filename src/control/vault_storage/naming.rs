//! Where a vault keeps an item's disk: one container per vault, one page blob per disk.

use sha2::{Digest, Sha256};

use super::VaultDisk;
use crate::resources::compute::OS_DISK_LUN;

const CONTAINER_PREFIX: &str = "bcdrvault-";
/// Azure's longest container name.
const MAX_CONTAINER_NAME: usize = 63;
/// Longest escaped item key kept whole; a path segment may have at most 254 characters.
const MAX_ITEM_SEGMENT: usize = 200;
/// Hex digits of the hash that replaces the tail of a name too long to keep whole.
const HASH_DIGITS: usize = 16;

/// The vault blob of disk `lun` (`OS_DISK_LUN` for the OS disk) of item `item_key`.
///
/// Container: `bcdrvault-` and the vault id's letters and digits, lower case (a GUID loses
/// its dashes). Blob: `<escaped item key>/os` or `/disk<lun>`. Item keys are escaped
/// injectively (`;` and the like become `_xx`), so two items never share a blob.
pub fn vault_disk(vault_id: &str, item_key: &str, lun: i64) -> VaultDisk {
    let vault: String = vault_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let room = MAX_CONTAINER_NAME - CONTAINER_PREFIX.len();
    let vault = if vault.is_empty() {
        hash_hex(vault_id)
    } else {
        shorten(vault, vault_id, room)
    };
    let disk = if lun == OS_DISK_LUN {
        "os".to_owned()
    } else {
        format!("disk{lun}")
    };
    VaultDisk {
        container: format!("{CONTAINER_PREFIX}{vault}"),
        blob: format!(
            "{}/{disk}",
            shorten(escape(item_key), item_key, MAX_ITEM_SEGMENT)
        ),
    }
}

/// Keeps ASCII letters, digits, `-` and `.`; every other byte becomes `_` and two hex
/// digits (so `_` itself is escaped too and the mapping stays one-to-one).
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("_{byte:02x}"));
        }
    }
    out
}

/// `name` when it fits in `max`, else its head and a hash of the original, so that long
/// names stay distinct.
fn shorten(name: String, original: &str, max: usize) -> String {
    if name.len() <= max {
        return name;
    }
    format!("{}{}", &name[..max - HASH_DIGITS], hash_hex(original))
}

fn hash_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_container(name: &str) -> bool {
        (3..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--")
    }

    #[test]
    fn a_guid_vault_and_an_os_disk_get_readable_names() {
        let disk = vault_disk(
            "6F1E2D3C-0000-4A5B-9C8D-7E6F5A4B3C2D",
            "VM;iaasvmcontainerv2;rg1;vm1",
            OS_DISK_LUN,
        );
        assert_eq!(disk.container, "bcdrvault-6f1e2d3c00004a5b9c8d7e6f5a4b3c2d");
        assert_eq!(disk.blob, "VM_3biaasvmcontainerv2_3brg1_3bvm1/os");
        assert_eq!(vault_disk("v", "k", 3).blob, "k/disk3");
    }

    #[test]
    fn long_vault_ids_give_valid_distinct_container_names() {
        let long =
            "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/";
        let a = vault_disk(&format!("{long}a"), "k", 0).container;
        let b = vault_disk(&format!("{long}b"), "k", 0).container;
        assert!(valid_container(&a), "{a}");
        assert!(valid_container(&b), "{b}");
        assert_ne!(a, b);
        assert!(valid_container(&vault_disk("---", "k", 0).container));
    }

    #[test]
    fn escaping_keeps_item_keys_apart() {
        assert_ne!(
            vault_disk("v", "a;b", 0).blob,
            vault_disk("v", "a_3bb", 0).blob
        );
        assert_ne!(
            vault_disk("v", "a/b", 0).blob,
            vault_disk("v", "a_b", 0).blob
        );
        let long_a = "x".repeat(300) + "a";
        let long_b = "x".repeat(300) + "b";
        let (a, b) = (
            vault_disk("v", &long_a, 1).blob,
            vault_disk("v", &long_b, 1).blob,
        );
        assert_ne!(a, b);
        assert!(a.split('/').all(|segment| segment.len() <= 254));
    }
}
