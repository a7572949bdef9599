//! What every network resource carries besides its own properties: ARM's envelope (id,
//! name, location, tags, etag, `resourceGuid`), the network provider's naming rule, and the
//! members clients send back from a GET (`az` PUTs what it read) that a PUT ignores.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::NetworkId;
use crate::resources::groups::{require_location, Upserted};
use crate::resources::lookup::Tags;
use crate::resources::ResourceError;

/// A stored resource's envelope as responses show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// As Azure spells it, with the group's and the resource's names as created.
    pub id: String,
    pub name: String,
    /// Normalized as resource groups normalize it (`westeurope`).
    pub location: String,
    pub tags: Tags,
    /// `W/"<uuid>"`, new on every write.
    pub etag: String,
    /// Given when the resource is created and kept for its life.
    pub resource_guid: String,
    /// Top-level members the client sent besides ARM's own (`zones`, `extendedLocation`...),
    /// kept as given.
    pub extra: Map<String, Value>,
}

/// What a tracked resource's stored document holds besides its type's own state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope<T> {
    pub etag: String,
    pub resource_guid: String,
    #[serde(default)]
    pub extra: Map<String, Value>,
    pub state: T,
}

/// What a PUT of a tracked resource says of its envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvelopeSpec {
    /// As the client wrote it (`West Europe`); required.
    pub location: Option<String>,
    pub tags: Tags,
    /// The body's other top-level members, ARM's own (`id`, `etag`...) included: those are
    /// dropped here.
    pub extra: Map<String, Value>,
}

/// ARM's top-level members, which the service sets or takes from the path.
const ENVELOPE_MEMBERS: [&str; 7] = [
    "id",
    "name",
    "type",
    "location",
    "tags",
    "etag",
    "properties",
];

/// A new etag, as the network provider writes them.
pub(super) fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}

/// `map` without `names`: what a PUT keeps of a member map whose `names` the service
/// computes.
pub(super) fn without(mut map: Map<String, Value>, names: &[&str]) -> Map<String, Value> {
    map.retain(|name, _| !names.contains(&name.as_str()));
    map
}

/// `map` with `defaults` set where the client set nothing: what a GET shows of a member
/// Azure fills in.
pub(super) fn with_defaults(
    mut map: Map<String, Value>,
    defaults: impl IntoIterator<Item = (&'static str, Value)>,
) -> Map<String, Value> {
    for (name, value) in defaults {
        map.entry(name).or_insert(value);
    }
    map
}

/// The envelope a PUT writes: the existing resource's with a new etag, the tags and
/// members sent; or a new one. The location is required and cannot change (409
/// `InvalidResourceLocation`, as ARM answers).
pub(super) fn put_envelope(
    id: &NetworkId,
    existing: Option<&Tracked>,
    spec: EnvelopeSpec,
) -> Result<(Tracked, Upserted), ResourceError> {
    let location = require_location(spec.location.as_deref())?;
    let extra = without(spec.extra, &ENVELOPE_MEMBERS);
    let tracked = |resource_guid: String| Tracked {
        id: id.id(),
        name: id.name.clone(),
        location: location.clone(),
        tags: spec.tags.clone(),
        etag: new_etag(),
        resource_guid,
        extra: extra.clone(),
    };
    match existing {
        None => Ok((tracked(uuid::Uuid::new_v4().to_string()), Upserted::Created)),
        Some(existing) if existing.location != location => Err(ResourceError::conflict(
            "InvalidResourceLocation",
            format!(
                "The resource '{}' already exists in location '{}' in resource group '{}'. A \
                 resource with the same name cannot be created in location '{location}'. \
                 Please select a new resource name.",
                existing.name, existing.location, id.group
            ),
        )),
        Some(existing) => Ok((
            Tracked {
                id: existing.id.clone(),
                name: existing.name.clone(),
                ..tracked(existing.resource_guid.clone())
            },
            Upserted::Updated,
        )),
    }
}

/// The network provider's name rule: 1 to 80 characters, word characters, `.`, `-` and
/// `_`, starting with a word character and ending with one or `_`. 400
/// `InvalidResourceName`.
pub fn validate_name(name: &str) -> Result<(), ResourceError> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let valid = (1..=80).contains(&name.chars().count())
        && name.chars().all(|c| word(c) || c == '.' || c == '-')
        && name.starts_with(word)
        && name.ends_with(word);
    if valid {
        Ok(())
    } else {
        Err(ResourceError::invalid(
            "InvalidResourceName",
            format!(
                "Resource name {name} is invalid. The name can be up to 80 characters long. It \
                 must begin with a word character, and it must end with a word character or \
                 with '_'. The name may contain word characters or '.', '-', '_'."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::network::ids::Kind;

    #[test]
    fn names_follow_the_network_rule() {
        for good in [
            "a",
            "vnet-1",
            "my_subnet_",
            "A.b-c_d",
            "ünï",
            &"x".repeat(80),
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a.",
            "a-",
            "a b",
            "a/b",
            "a;b",
            &"x".repeat(81),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_put_keeps_the_guid_renews_the_etag_and_drops_arm_members() {
        let id = NetworkId::new("s", "g", Kind::PublicIpAddress, "ip");
        let spec = EnvelopeSpec {
            location: Some("West Europe".into()),
            tags: Tags::new(),
            extra: json!({"id": "x", "etag": "y", "zones": ["1"]})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let (created, upserted) = put_envelope(&id, None, spec.clone()).unwrap();
        assert_eq!(upserted, Upserted::Created);
        assert_eq!(created.location, "westeurope");
        assert_eq!(
            Value::Object(created.extra.clone()),
            json!({"zones": ["1"]})
        );
        let (updated, upserted) = put_envelope(&id, Some(&created), spec.clone()).unwrap();
        assert_eq!(upserted, Upserted::Updated);
        assert_eq!(updated.resource_guid, created.resource_guid);
        assert_ne!(updated.etag, created.etag);
        let moved = EnvelopeSpec {
            location: Some("eastus".into()),
            ..spec
        };
        assert!(matches!(
            put_envelope(&id, Some(&created), moved),
            Err(ResourceError::Conflict {
                code: "InvalidResourceLocation",
                ..
            })
        ));
    }
}
