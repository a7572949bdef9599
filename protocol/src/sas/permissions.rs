//! The `sp` permission letters of a service SAS.

use std::fmt;
use std::str::FromStr;

/// One permission a service SAS can grant, in the order the docs list the letters
/// (`racwdxyltmeopi`), which is also the order [`Permissions`] prints them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `r`: read content, properties, metadata, block list, page ranges.
    Read,
    /// `a`: add a block to an append blob.
    Add,
    /// `c`: create a new blob or snapshot (but not overwrite one).
    Create,
    /// `w`: create or overwrite content, properties, metadata.
    Write,
    /// `d`: delete a blob or snapshot.
    Delete,
    /// `x`: delete a blob version.
    DeleteVersion,
    /// `y`: permanently delete a soft-deleted snapshot or version.
    PermanentDelete,
    /// `l`: list blobs (container SAS only).
    List,
    /// `t`: read and write blob tags.
    Tags,
    /// `m`: move a blob or directory (hierarchical namespace).
    Move,
    /// `e`: get system properties / execute (hierarchical namespace).
    Execute,
    /// `o`: set the owner or owning group (hierarchical namespace).
    Ownership,
    /// `p`: set access control lists (hierarchical namespace).
    AccessControl,
    /// `i`: set or delete an immutability policy or legal hold.
    SetImmutabilityPolicy,
}

impl Permission {
    /// Every permission, in canonical letter order.
    pub const ALL: [Permission; 14] = [
        Permission::Read,
        Permission::Add,
        Permission::Create,
        Permission::Write,
        Permission::Delete,
        Permission::DeleteVersion,
        Permission::PermanentDelete,
        Permission::List,
        Permission::Tags,
        Permission::Move,
        Permission::Execute,
        Permission::Ownership,
        Permission::AccessControl,
        Permission::SetImmutabilityPolicy,
    ];

    /// The letter used for this permission in `sp`.
    pub fn letter(self) -> char {
        match self {
            Permission::Read => 'r',
            Permission::Add => 'a',
            Permission::Create => 'c',
            Permission::Write => 'w',
            Permission::Delete => 'd',
            Permission::DeleteVersion => 'x',
            Permission::PermanentDelete => 'y',
            Permission::List => 'l',
            Permission::Tags => 't',
            Permission::Move => 'm',
            Permission::Execute => 'e',
            Permission::Ownership => 'o',
            Permission::AccessControl => 'p',
            Permission::SetImmutabilityPolicy => 'i',
        }
    }

    /// The permission a letter of `sp` stands for; letters are case-sensitive, as in Azure.
    pub fn from_letter(letter: char) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.letter() == letter)
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of [`Permission`]s, parsed from `sp` in any letter order (Azurite and Dash accept
/// any order; whether Azure insists on the documented order is unconfirmed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u16);

/// `sp` (or a stored policy's permission) held a letter that is not a blob SAS permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a blob SAS permission letter")]
pub struct UnknownPermission(pub char);

impl Permissions {
    /// The empty set.
    pub const NONE: Permissions = Permissions(0);

    /// This set plus `permission`; handy for minting: `Permissions::NONE.with(Permission::Read)`.
    #[must_use]
    pub fn with(self, permission: Permission) -> Permissions {
        Permissions(self.0 | permission.bit())
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether the set grants at least one of `needed`: how the service states an
    /// operation's requirement, e.g. Put Blob needs `[Create, Write]` (either will do).
    pub fn allows_any(self, needed: &[Permission]) -> bool {
        needed.iter().any(|&p| self.contains(p))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter().fold(Permissions::NONE, Permissions::with)
    }
}

impl FromStr for Permissions {
    type Err = UnknownPermission;

    fn from_str(letters: &str) -> Result<Self, Self::Err> {
        letters
            .chars()
            .map(|c| Permission::from_letter(c).ok_or(UnknownPermission(c)))
            .collect()
    }
}

/// Prints the letters in canonical order, as a minted `sp` value.
impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Permission::ALL
            .into_iter()
            .filter(|&p| self.contains(p))
            .try_for_each(|p| write!(f, "{}", p.letter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_letters_in_any_order_and_prints_canonical_order() {
        let permissions: Permissions = "wcr".parse().unwrap();
        assert!(permissions.contains(Permission::Read));
        assert!(permissions.contains(Permission::Create));
        assert!(permissions.contains(Permission::Write));
        assert!(!permissions.contains(Permission::Delete));
        assert_eq!(permissions.to_string(), "rcw");
    }

    #[test]
    fn every_documented_letter_round_trips() {
        let all: Permissions = "racwdxyltmeopi".parse().unwrap();
        assert_eq!(all.to_string(), "racwdxyltmeopi");
    }

    #[test]
    fn bad_permission_letter_is_rejected() {
        assert_eq!("rq".parse::<Permissions>(), Err(UnknownPermission('q')));
        assert_eq!("R".parse::<Permissions>(), Err(UnknownPermission('R')));
    }

    #[test]
    fn allows_any_means_at_least_one() {
        let create_only: Permissions = "c".parse().unwrap();
        assert!(create_only.allows_any(&[Permission::Create, Permission::Write]));
        assert!(!create_only.allows_any(&[Permission::Write]));
        assert!(!Permissions::NONE.allows_any(&[Permission::Read]));
        assert!(Permissions::NONE.is_empty());
    }
}
