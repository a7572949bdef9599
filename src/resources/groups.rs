//! Resource groups (Microsoft.Resources/resourceGroups): create-or-update and list. Reading
//! one group is `lookup::group`.

use sqlx::Row;

use super::lookup::{GroupRecord, Tags};
use super::names::key;
use super::ResourceError;
use crate::clock::Clock;
use crate::store::{from_micros, json_column, to_micros, Db};

/// What a resource group PUT asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PutGroup {
    pub subscription: String,
    pub name: String,
    /// As the client wrote it (`"West Europe"`); normalized here.
    pub location: Option<String>,
    pub tags: Tags,
}

/// Whether a create-or-update created the resource or updated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
}

/// Creates the group, or replaces the tags of the existing one. The location of an
/// existing group cannot change: 409 `InvalidResourceGroupLocation`.
pub async fn put_group(
    db: &Db,
    clock: &Clock,
    command: PutGroup,
) -> Result<(GroupRecord, Upserted), ResourceError> {
    validate_group_name(&command.name)?;
    let location = require_location(command.location.as_deref())?;
    let subscription_exists = sqlx::query("select 1 from subscription where subscription_id = $1")
        .bind(&command.subscription)
        .fetch_optional(db.pool())
        .await?
        .is_some();
    if !subscription_exists {
        return Err(ResourceError::not_found(
            "SubscriptionNotFound",
            format!(
                "The subscription '{}' could not be found.",
                command.subscription
            ),
        ));
    }
    let tags = serde_json::to_string(&command.tags).expect("tags serialize");
    let inserted = sqlx::query(
        "insert into resource_group (subscription_id, name_key, name, location, tags, created_at) \
         values ($1, $2, $3, $4, $5, $6) on conflict (subscription_id, name_key) do nothing",
    )
    .bind(&command.subscription)
    .bind(key(&command.name))
    .bind(&command.name)
    .bind(&location)
    .bind(&tags)
    .bind(to_micros(clock.now()))
    .execute(db.writer())
    .await?
    .rows_affected();
    if inserted == 1 {
        let group = super::lookup::group(db, &command.subscription, &command.name).await?;
        return Ok((group, Upserted::Created));
    }
    let existing = super::lookup::group(db, &command.subscription, &command.name).await?;
    if existing.location != location {
        return Err(ResourceError::conflict(
            "InvalidResourceGroupLocation",
            format!(
                "Invalid resource group location '{location}'. The Resource group already exists \
                 in location '{}'.",
                existing.location
            ),
        ));
    }
    sqlx::query("update resource_group set tags = $1 where subscription_id = $2 and name_key = $3")
        .bind(&tags)
        .bind(&command.subscription)
        .bind(key(&command.name))
        .execute(db.writer())
        .await?;
    Ok((
        GroupRecord {
            tags: command.tags,
            ..existing
        },
        Upserted::Updated,
    ))
}

/// The groups of a subscription, by name.
pub async fn list_groups(db: &Db, subscription: &str) -> Result<Vec<GroupRecord>, ResourceError> {
    let rows = sqlx::query(
        "select subscription_id, name, location, tags, created_at from resource_group \
         where subscription_id = $1 order by name_key",
    )
    .bind(subscription)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(GroupRecord {
                subscription_id: row.try_get("subscription_id")?,
                name: row.try_get("name")?,
                location: row.try_get("location")?,
                tags: json_column(row, "tags")?,
                created_at: from_micros(row.try_get("created_at")?),
            })
        })
        .collect()
}

/// ARM's resource group name rule: 1-90 characters, letters and digits (any script),
/// `_`, `-`, `.`, `(` and `)`, not ending in `.`. 400 `InvalidResourceGroupName`.
pub fn validate_group_name(name: &str) -> Result<(), ResourceError> {
    let length = name.chars().count();
    let reason = if length == 0 {
        Some("it is empty".to_owned())
    } else if length > 90 {
        Some(format!("it is {length} characters long; the most is 90"))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')')))
    {
        Some(format!("the character '{c}' is not allowed"))
    } else if name.ends_with('.') {
        Some("it ends with a period".to_owned())
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ResourceError::invalid(
            "InvalidResourceGroupName",
            format!(
                "Resource group name '{name}' is invalid: {reason}. A name is 1 to 90 characters \
                 of letters, digits, underscores, hyphens, periods and parentheses, and does not \
                 end with a period."
            ),
        )),
    }
}

/// A location as ARM stores it: `"West Europe"` → `westeurope`. 400 `LocationRequired`
/// when missing or blank, `InvalidRequestContent` when it holds anything but letters,
/// digits and spaces.
pub fn require_location(location: Option<&str>) -> Result<String, ResourceError> {
    let location = location.map(str::trim).unwrap_or_default();
    if location.is_empty() {
        return Err(ResourceError::invalid(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    }
    if let Some(c) = location
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == ' '))
    {
        return Err(ResourceError::invalid(
            "InvalidRequestContent",
            format!(
                "The location '{location}' is not valid: the character '{c}' is not allowed; a \
                 location is a region name such as 'westeurope' or 'West Europe'."
            ),
        ));
    }
    Ok(location.replace(' ', "").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<impl std::fmt::Debug, ResourceError>) -> String {
        match result {
            Err(ResourceError::Invalid { code, .. }) => code.into_owned(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn group_names_follow_the_arm_rule() {
        for good in ["rg", "My-Group_1", "a.b(c)", "Ünïcödé", &"x".repeat(90)] {
            assert!(validate_group_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "ends.",
            "has space",
            "slash/",
            "semi;colon",
            &"x".repeat(91),
        ] {
            assert_eq!(
                code(validate_group_name(bad)),
                "InvalidResourceGroupName",
                "{bad}"
            );
        }
    }

    #[test]
    fn locations_are_normalized_like_arm() {
        assert_eq!(require_location(Some("West Europe")).unwrap(), "westeurope");
        assert_eq!(require_location(Some(" eastus2 ")).unwrap(), "eastus2");
        assert_eq!(code(require_location(None)), "LocationRequired");
        assert_eq!(code(require_location(Some("  "))), "LocationRequired");
        assert_eq!(
            code(require_location(Some("west-europe"))),
            "InvalidRequestContent"
        );
    }
}
