//! Deployment and resource functions: `parameters`, `variables`, `copyIndex`, `subscription`,
//! `resourceGroup`, `deployment`, `environment`, `reference`, `list*`, and the resource id
//! builders (`resourceId`, `subscriptionResourceId`, `tenantResourceId`,
//! `extensionResourceId`).

use serde_json::Value;

use super::super::{ExpressionError, Scope};
use super::{function_error, Args};

pub(crate) fn call(
    name: &str,
    args: &Args,
    scope: &dyn Scope,
) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "parameters" => one_name(args).and_then(|name| scope.parameter(name)),
        "variables" => one_name(args).and_then(|name| scope.variable(name)),
        "copyindex" => copy_index(args, scope),
        "subscription" => args.exactly(0).map(|()| scope.subscription()),
        "resourcegroup" => args.exactly(0).and_then(|()| scope.resource_group()),
        "deployment" => args.exactly(0).map(|()| scope.deployment()),
        "environment" => args.exactly(0).map(|()| scope.environment()),
        "reference" => reference(args, scope),
        "resourceid" => resource_id_function(args, scope),
        "subscriptionresourceid" => subscription_resource_id(args, scope),
        "tenantresourceid" => args
            .all_strings()
            .and_then(|parts| typed_path(args.name, &parts, &parts))
            .map(Value::String),
        "extensionresourceid" => extension_resource_id(args),
        list if list.starts_with("list") => list_function(args, scope),
        _ => return None,
    })
}

fn one_name<'a>(args: &'a Args) -> Result<&'a str, ExpressionError> {
    args.exactly(1)?;
    args.string(0)
}

/// `copyIndex()`, `copyIndex(offset)`, `copyIndex('loop')`, `copyIndex('loop', offset)`.
fn copy_index(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    args.between(0, 2)?;
    let (loop_name, offset) = match (args.get(0), args.len()) {
        (None, _) => (None, 0),
        (Some(Value::String(name)), 1) => (Some(name.as_str()), 0),
        (Some(_), 1) => (None, args.int(0)?),
        _ => (Some(args.string(0)?), args.int(1)?),
    };
    let index = scope.copy_index(loop_name)?;
    index
        .checked_add(offset)
        .map(Value::from)
        .ok_or_else(|| args.error("the index plus the offset overflows a 64-bit integer"))
}

/// `reference(resourceNameOrId, [apiVersion], ['Full'])`.
fn reference(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    args.between(1, 3)?;
    let resource = args.string(0)?;
    let api_version = if args.len() > 1 {
        Some(args.string(1)?)
    } else {
        None
    };
    let full = if args.len() > 2 {
        let option = args.string(2)?;
        if !option.eq_ignore_ascii_case("full") {
            return Err(args.error(format!(
                "the third argument must be 'Full', but it is '{option}'"
            )));
        }
        true
    } else {
        false
    };
    scope.reference(resource, api_version, full)
}

/// `listKeys(resourceId, apiVersion, [functionValues])` and the rest of the `list*` family.
fn list_function(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    args.between(2, 3)?;
    scope.list(args.name, args.string(0)?, args.string(1)?)
}

/// `resourceId([subscriptionId], [resourceGroupName], resourceType, name1, [name2], ...)`:
/// the arguments before the first one containing `/` (the type) are the resource group, or
/// the subscription and the resource group; missing ones are the deployment's. Outside a
/// resource group (a subscription-scope deployment) the id is subscription-level.
fn resource_id_function(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    let parts = args.all_strings()?;
    let type_at = type_position(args.name, &parts)?;
    let (subscription, group) = match &parts[..type_at] {
        [] => (None, None),
        [group] => (None, Some(*group)),
        [subscription, group] => (Some(*subscription), Some(*group)),
        _ => return Err(no_single_type(args.name, &parts)),
    };
    let subscription = match subscription {
        Some(subscription) => subscription.to_owned(),
        None => current_subscription(scope),
    };
    let group = match group {
        Some(group) => Some(group.to_owned()),
        None => scope
            .resource_group()
            .ok()
            .and_then(|group| group.get("name").and_then(Value::as_str).map(str::to_owned)),
    };
    let (resource_type, names) = (parts[type_at], &parts[type_at + 1..]);
    build_id(Some(&subscription), group.as_deref(), resource_type, names)
        .map(Value::String)
        .map_err(|message| function_error(args.name, message))
}

/// `subscriptionResourceId([subscriptionId], resourceType, name1, ...)`.
fn subscription_resource_id(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    let parts = args.all_strings()?;
    let type_at = type_position(args.name, &parts)?;
    let subscription = match &parts[..type_at] {
        [] => current_subscription(scope),
        [subscription] => (*subscription).to_owned(),
        _ => return Err(no_single_type(args.name, &parts)),
    };
    let path = typed_path(args.name, &parts, &parts[type_at..])?;
    Ok(Value::String(format!(
        "/subscriptions/{subscription}{path}"
    )))
}

/// `extensionResourceId(resourceId, resourceType, name1, ...)`: the extension's path after
/// the resource it extends.
fn extension_resource_id(args: &Args) -> Result<Value, ExpressionError> {
    args.at_least(3)?;
    let parts = args.all_strings()?;
    let base = parts[0].trim_end_matches('/');
    let path = typed_path(args.name, &parts, &parts[1..])?;
    Ok(Value::String(format!("{base}{path}")))
}

fn current_subscription(scope: &dyn Scope) -> String {
    scope
        .subscription()
        .get("subscriptionId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Where the resource type is: the first argument containing `/`.
fn type_position(function: &str, parts: &[&str]) -> Result<usize, ExpressionError> {
    parts
        .iter()
        .position(|part| part.contains('/'))
        .ok_or_else(|| no_single_type(function, parts))
}

fn no_single_type(function: &str, parts: &[&str]) -> ExpressionError {
    function_error(
        function,
        format!(
            "function requires exactly one multi-segmented argument which must be resource \
             type including resource provider namespace. Current function arguments '{}'",
            parts.join(",")
        ),
    )
}

/// `/providers/{Namespace}/{type1}/{name1}/...` from `[type, names...]` (`all` is every
/// argument, for the message).
fn typed_path(
    function: &str,
    all: &[&str],
    type_and_names: &[&str],
) -> Result<String, ExpressionError> {
    let type_at =
        type_position(function, type_and_names).map_err(|_| no_single_type(function, all))?;
    if type_at != 0 {
        return Err(no_single_type(function, all));
    }
    provider_path(type_and_names[0], &type_and_names[1..])
        .map_err(|message| function_error(function, message))
}

/// `/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` from
/// `Microsoft.Network/virtualNetworks/subnets` and `[vnet, default]`.
fn provider_path(resource_type: &str, names: &[&str]) -> Result<String, String> {
    let segments: Vec<&str> = resource_type.split('/').collect();
    let (namespace, types) = segments
        .split_first()
        .filter(|(namespace, types)| {
            !namespace.is_empty() && !types.is_empty() && types.iter().all(|t| !t.is_empty())
        })
        .ok_or_else(|| format!("the resource type '{resource_type}' is not valid"))?;
    if types.len() != names.len() {
        return Err(format!(
            "the type '{resource_type}' requires '{}' resource name argument(s)",
            types.len()
        ));
    }
    let mut path = format!("/providers/{namespace}");
    for (resource_type, name) in types.iter().zip(names) {
        if name.is_empty() {
            return Err(format!(
                "the resource name for the type '{resource_type}' must not be empty"
            ));
        }
        path.push('/');
        path.push_str(resource_type);
        path.push('/');
        path.push_str(name);
    }
    Ok(path)
}

/// A resource id: `/subscriptions/{s}/resourceGroups/{g}/providers/{Namespace}/{type1}/
/// {name1}/{type2}/{name2}` for the nested type `Namespace/type1/type2`. Without a group, a
/// subscription-level id; without either, a tenant-level one. An `Evaluation` error when the
/// type is malformed or there is not one name per type segment.
pub fn resource_id(
    subscription: Option<&str>,
    resource_group: Option<&str>,
    resource_type: &str,
    names: &[&str],
) -> Result<String, ExpressionError> {
    build_id(subscription, resource_group, resource_type, names)
        .map_err(ExpressionError::Evaluation)
}

fn build_id(
    subscription: Option<&str>,
    resource_group: Option<&str>,
    resource_type: &str,
    names: &[&str],
) -> Result<String, String> {
    let path = provider_path(resource_type, names)?;
    Ok(match (subscription, resource_group) {
        (Some(subscription), Some(group)) => {
            format!("/subscriptions/{subscription}/resourceGroups/{group}{path}")
        }
        (Some(subscription), None) => format!("/subscriptions/{subscription}{path}"),
        (None, _) => path,
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err, eval_in, TestScope, SUBSCRIPTION};
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_and_variables() {
        assert_eq!(eval("[parameters('text')]"), json!("hello"));
        assert_eq!(eval("[variables('prefix')]"), json!("vault"));
        assert_eq!(
            eval_err("[parameters('nope')]"),
            "The template parameter 'nope' is not found."
        );
        assert!(eval_err("[variables(1)]").contains("must be a string"));
        assert!(eval_err("[parameters()]").contains("requires 1"));
    }

    #[test]
    fn copy_index_forms() {
        assert_eq!(eval("[copyIndex()]"), json!(5));
        assert_eq!(eval("[copyIndex(1)]"), json!(6));
        assert_eq!(eval("[copyIndex('outer')]"), json!(2));
        assert_eq!(eval("[copyIndex('outer', 10)]"), json!(12));
        assert!(eval_err("[copyIndex('nope')]").contains("not expected here"));
        assert!(eval_err("[copyIndex(1, 2)]").contains("first argument must be a string"));
        assert!(eval_err("[copyIndex('a', 'b')]").contains("second argument must be an integer"));
    }

    #[test]
    fn context_functions() {
        assert_eq!(eval("[subscription().subscriptionId]"), json!(SUBSCRIPTION));
        assert_eq!(
            eval("[resourceGroup().id]"),
            json!(format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/rg1"))
        );
        assert_eq!(eval("[deployment().name]"), json!("dep1"));
        assert_eq!(
            eval("[environment().suffixes.storage]"),
            json!("core.windows.net")
        );
        assert!(eval_err("[subscription('x')]").contains("requires 0"));
        let err = eval_in("[resourceGroup()]", &TestScope::at_subscription()).unwrap_err();
        assert!(err.to_string().contains("not expected at this location"));
    }

    #[test]
    fn reference_forms() {
        assert_eq!(
            eval("[reference('vault1')]"),
            json!({"provisioningState": "Succeeded", "api": null})
        );
        assert_eq!(
            eval("[reference('vault1', '2023-01-01').api]"),
            json!("2023-01-01")
        );
        assert_eq!(
            eval("[reference('vault1', '2023-01-01', 'full').name]"),
            json!("vault1")
        );
        assert_eq!(
            eval(
                "[reference(resourceId('Microsoft.RecoveryServices/vaults', 'vault1'))\
                 .provisioningState]"
            ),
            json!("Succeeded")
        );
        assert!(eval_err("[reference('vault1', '2023', 'Partial')]").contains("must be 'Full'"));
        assert_eq!(
            eval_err("[reference('other')]"),
            "The Resource 'other' was not found."
        );
    }

    #[test]
    fn list_functions() {
        assert_eq!(
            eval("[listKeys('vault1', '2021-01-01').keys[0].value]"),
            json!("key-of-vault1@2021-01-01")
        );
        assert!(eval_err("[listSecrets('vault1', '2021-01-01')]")
            .contains("'listSecrets' is not supported"));
        assert!(eval_err("[listKeys('vault1')]").contains("requires 2 to 3"));
    }

    #[test]
    fn resource_id_arities() {
        let group = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/rg1");
        assert_eq!(
            eval("[resourceId('Microsoft.Storage/storageAccounts', 'st1')]"),
            json!(format!(
                "{group}/providers/Microsoft.Storage/storageAccounts/st1"
            ))
        );
        assert_eq!(
            eval("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet', 'default')]"),
            json!(format!(
                "{group}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
            ))
        );
        assert_eq!(
            eval("[resourceId('otherRg', 'Microsoft.Storage/storageAccounts', 'st1')]"),
            json!(format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/otherRg\
                 /providers/Microsoft.Storage/storageAccounts/st1"
            ))
        );
        // The shape Bicep's evaluation tests expect (Azure/bicep EvaluationTests.cs).
        assert_eq!(
            eval(
                "[resourceId('2e518a80-f860-4467-a00e-d81aaf1ff42e', 'customRg', \
                 'My.Rp/parent/child', 'myParent', 'myChild')]"
            ),
            json!(
                "/subscriptions/2e518a80-f860-4467-a00e-d81aaf1ff42e/resourceGroups/customRg\
                 /providers/My.Rp/parent/myParent/child/myChild"
            )
        );
    }

    #[test]
    fn resource_id_at_subscription_scope() {
        let id = eval_in(
            "[resourceId('Microsoft.Resources/resourceGroups', 'rg2')]",
            &TestScope::at_subscription(),
        )
        .unwrap();
        assert_eq!(
            id,
            json!(format!(
                "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Resources/resourceGroups/rg2"
            ))
        );
    }

    #[test]
    fn resource_id_errors() {
        assert_eq!(
            eval_err("[resourceId('Microsoft.Storage/storageAccounts')]"),
            "Unable to evaluate template language function 'resourceId': the type \
             'Microsoft.Storage/storageAccounts' requires '1' resource name argument(s). Please \
             see https://aka.ms/arm-functions for usage details."
        );
        assert!(eval_err("[resourceId('a', 'b')]").contains(
            "function requires exactly one multi-segmented argument which must be resource type \
             including resource provider namespace. Current function arguments 'a,b'"
        ));
        assert!(eval_err("[resourceId('s', 'g', 'x', 'T/t', 'n')]").contains("multi-segmented"));
        assert!(eval_err(
            "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet/default')]"
        )
        .contains("requires '2' resource name argument(s)"));
        assert!(eval_err("[resourceId('/t', 'n')]").contains("is not valid"));
        assert!(eval_err("[resourceId('T/t', '')]").contains("must not be empty"));
        assert!(eval_err("[resourceId('T/t', 1)]").contains("second argument must be a string"));
    }

    #[test]
    fn subscription_tenant_extension_ids() {
        assert_eq!(
            eval("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'abc')]"),
            json!(format!(
                "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization\
                 /roleDefinitions/abc"
            ))
        );
        assert_eq!(
            eval("[subscriptionResourceId('other', 'Microsoft.Resources/resourceGroups', 'rg')]"),
            json!("/subscriptions/other/providers/Microsoft.Resources/resourceGroups/rg")
        );
        assert_eq!(
            eval("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]"),
            json!("/providers/Microsoft.Management/managementGroups/mg")
        );
        assert_eq!(
            eval(
                "[extensionResourceId(resourceId('Microsoft.RecoveryServices/vaults', 'v'), \
                 'Microsoft.Authorization/locks', 'lock')]"
            ),
            json!(format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg1/providers\
                 /Microsoft.RecoveryServices/vaults/v/providers/Microsoft.Authorization/locks/lock"
            ))
        );
        assert!(eval_err("[tenantResourceId('x', 'T/t', 'n')]").contains("multi-segmented"));
        assert!(
            eval_err("[subscriptionResourceId('a', 'b', 'T/t', 'n')]").contains("multi-segmented")
        );
        assert!(eval_err("[extensionResourceId('/x', 'T/t')]").contains("requires at least 3"));
    }

    #[test]
    fn resource_id_helper() {
        assert_eq!(
            resource_id(Some("s"), Some("g"), "A.B/c/d", &["n1", "n2"]).unwrap(),
            "/subscriptions/s/resourceGroups/g/providers/A.B/c/n1/d/n2"
        );
        assert_eq!(
            resource_id(Some("s"), None, "A.B/c", &["n"]).unwrap(),
            "/subscriptions/s/providers/A.B/c/n"
        );
        assert_eq!(
            resource_id(None, None, "A.B/c", &["n"]).unwrap(),
            "/providers/A.B/c/n"
        );
        assert!(resource_id(None, None, "A.B", &[]).is_err());
        assert!(resource_id(None, None, "A.B/c", &[]).is_err());
    }
}
