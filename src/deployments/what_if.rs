//! What a deployment would change, without changing it: each resource of the plan is
//! compared with what its provider holds now (`Create`, `Modify` with the properties that
//! differ, `NoChange`), and the group's other resources are `Delete` in complete mode,
//! `Ignore` in incremental mode, as ARM's what-if reports them.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::runner::{Prepared, ResourceProvider};
use super::template::Mode;

/// The changes, in plan order, then the resources the template does not name.
pub async fn changes(provider: &dyn ResourceProvider, prepared: &Prepared) -> Vec<Value> {
    let mut changes = Vec::new();
    let mut references = prepared.plan.references();
    for (index, resource) in prepared.plan.resources.iter().enumerate() {
        let current = provider
            .get(&resource.id, &resource.api_version)
            .await
            .ok()
            .flatten();
        if let Some(current) = &current {
            references
                .by_id
                .insert(resource.id.to_ascii_lowercase(), current.clone());
        }
        let after = prepared
            .what_if_body(index, &references)
            .unwrap_or_else(|| Value::Object(resource.definition.clone()));
        let mut after = with_identity(after, &resource.id, &resource.resource_type, &resource.name);
        if let Value::Object(fields) = &mut after {
            fields.insert("apiVersion".to_owned(), json!(resource.api_version));
        }
        let change = match current {
            None => json!({"resourceId": resource.id, "changeType": "Create", "after": after}),
            Some(before) => {
                let mut delta = Vec::new();
                diff("", &before, &after, &mut delta);
                let change_type = if delta.is_empty() {
                    "NoChange"
                } else {
                    "Modify"
                };
                json!({
                    "resourceId": resource.id,
                    "changeType": change_type,
                    "before": before,
                    "after": after,
                    "delta": delta,
                })
            }
        };
        changes.push(change);
    }
    if let Some(group) = &prepared.context.group {
        let named: HashSet<String> = prepared
            .plan
            .resources
            .iter()
            .map(|r| r.id.to_ascii_lowercase())
            .collect();
        let others = provider
            .group_resources(&prepared.context.subscription_id, &group.name)
            .await
            .unwrap_or_default();
        for id in others
            .into_iter()
            .filter(|id| !named.contains(&id.to_ascii_lowercase()))
        {
            let change_type = match prepared.request.mode {
                Mode::Complete => "Delete",
                Mode::Incremental => "Ignore",
            };
            changes.push(json!({"resourceId": id, "changeType": change_type}));
        }
    }
    changes
}

fn with_identity(body: Value, id: &str, resource_type: &str, name: &str) -> Value {
    let Value::Object(body) = body else {
        return body;
    };
    let mut identified = Map::new();
    identified.insert("id".to_owned(), json!(id));
    identified.insert(
        "name".to_owned(),
        json!(name.rsplit('/').next().unwrap_or(name)),
    );
    identified.insert("type".to_owned(), json!(resource_type));
    identified.extend(body);
    Value::Object(identified)
}

/// The properties the template sets that differ from what the resource holds: only what
/// the template writes is compared (what the provider adds, read-only state, is not a
/// change). ARM's `delta` entries: `path`, `propertyChangeType`, `before`, `after`.
fn diff(path: &str, before: &Value, after: &Value, delta: &mut Vec<Value>) {
    match (before, after) {
        (Value::Object(before), Value::Object(after)) => {
            for (key, after_value) in after {
                if path.is_empty() && matches!(key.as_str(), "id" | "name" | "type" | "apiVersion")
                {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match before.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                    Some((_, before_value)) => diff(&child, before_value, after_value, delta),
                    None => delta.push(json!({"path": child, "propertyChangeType": "Create", "after": after_value})),
                }
            }
        }
        (Value::String(b), Value::String(a))
            if b.eq_ignore_ascii_case(a) && is_case_insensitive(path) => {}
        (before, after) if before == after => {}
        (before, after) => delta.push(json!({
            "path": path,
            "propertyChangeType": "Modify",
            "before": before,
            "after": after,
        })),
    }
}

/// Values ARM compares in any case: locations and ids.
fn is_case_insensitive(path: &str) -> bool {
    path == "location" || path.ends_with("Id") || path.ends_with("id")
}
