//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`, and the page blob sequence number conditions.

use super::model::{ETag, Timestamp};
use super::StoreError;

#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<Timestamp>,
    pub if_unmodified_since: Option<Timestamp>,
}

/// What a request does with the resource it names: reads answer a failed "not modified"
/// condition with 304, writes with 412 (or 409 for `If-None-Match: *` on a create).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// Checks the conditions against the resource's current ETag and modification time
    /// (`None` when it does not exist).
    pub fn check(
        &self,
        current: Option<(ETag, Timestamp)>,
        access: Access,
    ) -> Result<(), StoreError> {
        let etag = current.map(|(etag, _)| etag.to_string());
        if let Some(wanted) = &self.if_match {
            if !etag.as_deref().is_some_and(|e| matches_any(wanted, e)) {
                return Err(StoreError::ConditionNotMet);
            }
        }
        if let (Some(since), Some((_, modified))) = (self.if_unmodified_since, current) {
            if modified.0 / 10_000_000 > since.0 / 10_000_000 {
                return Err(StoreError::ConditionNotMet);
            }
        }
        if let (Some(unwanted), Some(e)) = (&self.if_none_match, &etag) {
            if matches_any(unwanted, e) {
                return Err(match (access, unwanted.trim()) {
                    (Access::Read, _) => StoreError::NotModified,
                    (Access::Write, "*") => StoreError::BlobAlreadyExists,
                    (Access::Write, _) => StoreError::ConditionNotMet,
                });
            }
        }
        if let (Some(since), Some((_, modified))) = (self.if_modified_since, current) {
            // HTTP dates have whole seconds; compare at that resolution.
            if modified.0 / 10_000_000 <= since.0 / 10_000_000 {
                return Err(match access {
                    Access::Read => StoreError::NotModified,
                    Access::Write => StoreError::ConditionNotMet,
                });
            }
        }
        Ok(())
    }
}

fn matches_any(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || candidate == etag
            || candidate.trim_matches('"') == etag.trim_matches('"')
    })
}

/// `x-ms-if-sequence-number-le/lt/eq` on Put Page.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequenceConditions {
    pub le: Option<u64>,
    pub lt: Option<u64>,
    pub eq: Option<u64>,
}

impl SequenceConditions {
    pub fn check(&self, sequence_number: u64) -> Result<(), StoreError> {
        let ok = self.le.is_none_or(|v| sequence_number <= v)
            && self.lt.is_none_or(|v| sequence_number < v)
            && self.eq.is_none_or(|v| sequence_number == v);
        if ok {
            Ok(())
        } else {
            Err(StoreError::SequenceNumberConditionNotMet)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(16_000_000_000_005_000);

    fn existing() -> Option<(ETag, Timestamp)> {
        Some((ETag(0xABC), NOW))
    }

    #[test]
    fn if_match_needs_the_current_etag() {
        let c = Conditions {
            if_match: Some("\"0xABC\"".into()),
            ..Default::default()
        };
        assert!(c.check(existing(), Access::Write).is_ok());
        assert!(matches!(
            c.check(Some((ETag(1), NOW)), Access::Write),
            Err(StoreError::ConditionNotMet)
        ));
        assert!(matches!(
            c.check(None, Access::Write),
            Err(StoreError::ConditionNotMet)
        ));
    }

    #[test]
    fn if_none_match_star_refuses_to_overwrite_and_reads_get_not_modified() {
        let c = Conditions {
            if_none_match: Some("*".into()),
            ..Default::default()
        };
        assert!(c.check(None, Access::Write).is_ok());
        assert!(matches!(
            c.check(existing(), Access::Write),
            Err(StoreError::BlobAlreadyExists)
        ));
        assert!(matches!(
            c.check(existing(), Access::Read),
            Err(StoreError::NotModified)
        ));
    }

    #[test]
    fn modified_since_compares_whole_seconds() {
        let c = Conditions {
            if_modified_since: Some(Timestamp(NOW.0 - 5)),
            ..Default::default()
        };
        assert!(matches!(
            c.check(existing(), Access::Read),
            Err(StoreError::NotModified)
        ));
        let c = Conditions {
            if_unmodified_since: Some(Timestamp(NOW.0 - 20_000_000)),
            ..Default::default()
        };
        assert!(matches!(
            c.check(existing(), Access::Write),
            Err(StoreError::ConditionNotMet)
        ));
    }

    #[test]
    fn sequence_number_conditions() {
        let c = SequenceConditions {
            le: Some(5),
            ..Default::default()
        };
        assert!(c.check(5).is_ok());
        assert!(c.check(6).is_err());
        let c = SequenceConditions {
            eq: Some(3),
            lt: Some(4),
            ..Default::default()
        };
        assert!(c.check(3).is_ok());
        assert!(c.check(2).is_err());
    }
}
