//! Generated request bodies over the wire. Every management, `/_sim` and guest route that
//! reads a body gets arbitrary JSON values, valid bodies with one part replaced by an
//! arbitrary value (so that cases reach past the first check), and arbitrary bytes. Each
//! must answer below 500, and an error in its API's JSON shape
//! (`{"error":{"code","message"}}`). `VAULTSIM_FUZZ_CASES` sets the cases per kind and
//! route (default 120).

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{json, Value};

use crate::management::app::{Backend, ManagementApp};

const GROUP: &str = "fuzz";
const VAULT: &str = "vault";
const VM: &str = "vm1";
/// Where the group, the vault and the VMs are (the one `ManagementApp::registration` names).
const LOCATION: &str = "westeurope";

fn cases() -> usize {
    std::env::var("VAULTSIM_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(120)
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        // Strings that look like what the routes parse, and anything else.
        prop_oneof![
            "[A-Za-z0-9;/:._ -]{0,40}",
            "P[0-9]{0,22}[YMWD]?(T[0-9]{0,22}[HMS])?",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z?",
            ".{0,40}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map("[A-Za-z]{0,16}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every place in `value` one can replace: object members and array elements, by path.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    let children: Vec<(PathStep, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (PathStep::Key(k.clone()), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (PathStep::Index(i), v))
            .collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        prefix.push(step);
        out.push(prefix.clone());
        paths(child, prefix, out);
        prefix.pop();
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// `valid` with the part at one of its paths replaced by an arbitrary value, or removed.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    let mut all = Vec::new();
    paths(&valid, &mut Vec::new(), &mut all);
    let count = all.len().max(1);
    (0..count, any_json(), any::<bool>()).prop_map(move |(at, replacement, remove)| {
        let mut value = valid.clone();
        if let Some(path) = all.get(at) {
            let (last, parents) = path.split_last().expect("paths are not empty");
            let mut target = &mut value;
            for step in parents {
                target = match step {
                    PathStep::Key(k) => &mut target[k.as_str()],
                    PathStep::Index(i) => &mut target[*i],
                };
            }
            match (last, target) {
                (PathStep::Key(k), Value::Object(map)) if remove => {
                    map.remove(k);
                }
                (PathStep::Key(k), target) => target[k.as_str()] = replacement,
                (PathStep::Index(i), target) => target[*i] = replacement,
            }
        }
        value
    })
}

/// Draws `n` values from `strategy`, deterministically (no shrinking: a failure prints
/// the body that caused it).
fn draw<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, n: usize) -> Vec<T> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("a generated value")
                .current()
        })
        .collect()
}

/// One route under test: where, with what token, and a valid body to mutate.
struct Route {
    method: Method,
    url: String,
    bearer: String,
    valid: Value,
}

/// Sends every kind of generated body to `route`: each answer is below 500, and an
/// error is the API's JSON error.
async fn fuzz(http: &reqwest::Client, route: &Route) {
    // The unmutated body must be accepted, or every mutation would stop at the same
    // early check and the deeper validation would go untested.
    let accepted = http
        .request(route.method.clone(), &route.url)
        .bearer_auth(&route.bearer)
        .json(&route.valid)
        .send()
        .await
        .expect("the service answers");
    let status = accepted.status();
    assert!(
        status.is_success(),
        "{} {}: the valid body got {status} {}",
        route.method,
        route.url,
        accepted.text().await.unwrap_or_default()
    );
    let n = cases();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for value in draw(any_json(), n)
        .into_iter()
        .chain(draw(mutated(route.valid.clone()), n))
    {
        bodies.push(serde_json::to_vec(&value).unwrap());
    }
    bodies.extend(draw(vec(any::<u8>(), 0..256), n / 2));
    for body in bodies {
        let response = http
            .request(route.method.clone(), &route.url)
            .bearer_auth(&route.bearer)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("the service answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let shown = String::from_utf8_lossy(&body);
        assert!(
            status.as_u16() < 500,
            "{} {}: {status} {text}\nbody: {shown}",
            route.method,
            route.url
        );
        if status.as_u16() >= 400 {
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                panic!(
                    "{} {}: {status} not JSON: {text}\nbody: {shown}",
                    route.method, route.url
                )
            });
            assert!(
                error["error"]["code"].is_string() && error["error"]["message"].is_string(),
                "{} {}: {status} {text}\nbody: {shown}",
                route.method,
                route.url
            );
        }
    }
}

/// The service with a group, a vault, a registered VM protected by a policy and one
/// backup taken, so that mutated bodies meet real resources.
async fn populated() -> (ManagementApp, String) {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    app.put_group(GROUP, LOCATION).await;
    let registered = app
        .register_guest(Some(&app.token), &app.registration(GROUP, VM))
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let credential = registered.body["credential"]
        .as_str()
        .expect("a credential")
        .to_owned();
    assert!(app
        .put_vault(GROUP, VAULT, LOCATION)
        .await
        .status
        .is_success());
    app.protect(GROUP, VAULT, VM, "DefaultPolicy").await;
    (app, credential)
}

#[tokio::test]
async fn generated_management_and_guest_bodies_never_get_a_5xx() {
    let (app, credential) = populated().await;
    let api = "api-version=2026-07-01";
    let vault = app.vault_path(GROUP, VAULT);
    let item = format!(
        "{vault}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{GROUP};{VM}/protectedItems/VM;iaasvmcontainerv2;{GROUP};{VM}"
    );
    let vm_id = format!(
        "{}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachines/{VM}",
        app.subscription_path()
    );
    let policy = app
        .get(&format!("{vault}/backupPolicies/DefaultPolicy"))
        .await
        .body;
    let management = |method: Method, path: &str, valid: Value| Route {
        method,
        url: app.url(&format!("{path}?{api}")),
        bearer: app.token.clone(),
        valid,
    };
    let routes = [
        management(
            Method::PUT,
            &app.group_path("fuzz2"),
            json!({"location": "eastus", "tags": {"a": "b"}}),
        ),
        management(
            Method::PUT,
            &app.vault_path(GROUP, "vault2"),
            json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {}}),
        ),
        management(
            Method::PUT,
            &format!("{vault}/backupPolicies/p2"),
            json!({"properties": policy["properties"].clone()}),
        ),
        management(
            Method::PUT,
            &format!(
                "{}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachines/vm2",
                app.subscription_path()
            ),
            json!({"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_B1s"},
                "storageProfile": {"osDisk": {"osType": "Linux", "diskSizeGB": 1},
                "dataDisks": [{"lun": 0, "diskSizeGB": 1}]}}}),
        ),
        management(
            Method::PUT,
            &item,
            json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
                "sourceResourceId": vm_id, "policyId": format!("{vault}/backupPolicies/DefaultPolicy")}}),
        ),
        management(
            Method::POST,
            &format!("{item}/backup"),
            json!({"properties": {"objectType": "IaasVMBackupRequest",
                "recoveryPointExpiryTimeInUTC": "2099-01-01T00:00:00Z"}}),
        ),
        management(
            Method::PATCH,
            &format!("{vault}/backupconfig/vaultconfig"),
            json!({"properties": {"softDeleteFeatureState": "Enabled",
                "softDeleteRetentionPeriodInDays": 20}}),
        ),
        management(
            Method::POST,
            &format!(
                "{}/providers/Microsoft.RecoveryServices/locations/eastus/backupStatus",
                app.subscription_path()
            ),
            json!({"resourceType": "VM", "resourceId": vm_id}),
        ),
        Route {
            method: Method::POST,
            url: app.url("/_sim/principals"),
            bearer: app.token.clone(),
            valid: json!({"displayName": "fuzz", "subscriptionIds": [app.credentials.subscription_id]}),
        },
        Route {
            method: Method::PUT,
            url: app.url("/_sim/clock"),
            bearer: app.token.clone(),
            // Back before the jobs made above: allowed explicitly.
            valid: json!({"mode": "pinned", "now": "2026-03-01T00:00:00Z", "allowBackwards": true}),
        },
        Route {
            method: Method::POST,
            url: app.guest_url("/machine/register"),
            bearer: app.token.clone(),
            valid: app.registration(GROUP, "vm3"),
        },
        Route {
            method: Method::PUT,
            url: app.guest_url("/machine/extensions/VMSnapshotLinux/status"),
            bearer: credential,
            valid: json!([{"version": "1.0", "timestampUTC": "2026-03-01T00:00:00Z",
                "status": {"name": "VMSnapshotLinux", "operation": "Enable",
                "status": "success", "code": 0,
                "formattedMessage": {"lang": "en-US", "message": "ok"}}}]),
        },
    ];
    for route in &routes {
        fuzz(&app.http, route).await;
    }
}

/// The clock's advance walks every scheduled run on its way; on a service with nothing
/// protected a generated `by` or `to` is one step, whatever its size.
#[tokio::test]
async fn generated_clock_advances_never_get_a_5xx() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let route = Route {
        method: Method::POST,
        url: app.url("/_sim/clock/advance"),
        bearer: app.token.clone(),
        valid: json!({"by": "P1D", "settleSeconds": 0}),
    };
    fuzz(&app.http, &route).await;
    let to = Route {
        valid: json!({"to": "2030-01-01T00:00:00Z", "settleSeconds": 0}),
        ..route
    };
    fuzz(&app.http, &to).await;
}
