//! A [`Scope`] with fixed answers, for the unit tests of this module.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::{evaluate, parse_template_string, ExpressionError, Scope};

pub(crate) const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";

pub(crate) struct TestScope {
    pub parameters: Value,
    pub variables: Value,
    /// `(loop name, index)`, innermost last.
    pub loops: Vec<(&'static str, i64)>,
    /// `None`: a subscription-scope deployment.
    pub group: Option<&'static str>,
    /// `None`: `utcNow()`/`newGuid()` not allowed here.
    pub now: Option<DateTime<Utc>>,
}

impl Default for TestScope {
    fn default() -> Self {
        TestScope {
            parameters: json!({
                "text": "hello",
                "list": [{"name": "first"}, {"name": "second"}],
                "obj": {"nested": {"value": 42}, "text": "t"},
                "number": 8175133,
                "delimiters": [",", ";"],
            }),
            variables: json!({"prefix": "vault", "flag": true}),
            loops: vec![("outer", 2), ("inner", 5)],
            group: Some("rg1"),
            now: Some(Utc.with_ymd_and_hms(2019, 3, 5, 17, 53, 18).unwrap()),
        }
    }
}

impl TestScope {
    pub fn at_subscription() -> Self {
        TestScope {
            group: None,
            ..TestScope::default()
        }
    }

    pub fn without_now() -> Self {
        TestScope {
            now: None,
            ..TestScope::default()
        }
    }
}

impl Scope for TestScope {
    fn parameter(&self, name: &str) -> Result<Value, ExpressionError> {
        self.parameters.get(name).cloned().ok_or_else(|| {
            ExpressionError::Evaluation(format!("The template parameter '{name}' is not found."))
        })
    }

    fn variable(&self, name: &str) -> Result<Value, ExpressionError> {
        self.variables.get(name).cloned().ok_or_else(|| {
            ExpressionError::Evaluation(format!("The template variable '{name}' is not found."))
        })
    }

    fn copy_index(&self, loop_name: Option<&str>) -> Result<i64, ExpressionError> {
        let found = match loop_name {
            None => self.loops.last(),
            Some(name) => self.loops.iter().find(|(loop_name, _)| *loop_name == name),
        };
        found.map(|(_, index)| *index).ok_or_else(|| {
            ExpressionError::Evaluation(
                "The template function 'copyIndex' is not expected here.".into(),
            )
        })
    }

    fn subscription(&self) -> Value {
        json!({
            "id": format!("/subscriptions/{SUBSCRIPTION}"),
            "subscriptionId": SUBSCRIPTION,
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "displayName": "Test subscription",
        })
    }

    fn resource_group(&self) -> Result<Value, ExpressionError> {
        let name = self.group.ok_or_else(|| {
            ExpressionError::Evaluation(
                "The template function 'resourceGroup' is not expected at this location.".into(),
            )
        })?;
        Ok(json!({
            "id": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}"),
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": "westeurope",
            "properties": {"provisioningState": "Succeeded"},
        }))
    }

    fn deployment(&self) -> Value {
        json!({"name": "dep1", "properties": {"mode": "Incremental"}})
    }

    fn environment(&self) -> Value {
        json!({"name": "AzureCloud", "suffixes": {"storage": "core.windows.net"}})
    }

    fn reference(
        &self,
        resource: &str,
        api_version: Option<&str>,
        full: bool,
    ) -> Result<Value, ExpressionError> {
        if resource != "vault1" && !resource.ends_with("/vaults/vault1") {
            return Err(ExpressionError::Evaluation(format!(
                "The Resource '{resource}' was not found."
            )));
        }
        let properties = json!({"provisioningState": "Succeeded", "api": api_version});
        Ok(if full {
            json!({"name": "vault1", "properties": properties})
        } else {
            properties
        })
    }

    fn list(
        &self,
        function: &str,
        resource_id: &str,
        api_version: &str,
    ) -> Result<Value, ExpressionError> {
        if function.eq_ignore_ascii_case("listKeys") {
            Ok(json!({"keys": [{"value": format!("key-of-{resource_id}@{api_version}")}]}))
        } else {
            Err(ExpressionError::Evaluation(format!(
                "The function '{function}' is not supported for '{resource_id}'."
            )))
        }
    }

    fn utc_now(&self) -> Result<DateTime<Utc>, ExpressionError> {
        self.now.ok_or_else(|| {
            ExpressionError::Evaluation(
                "The template function 'utcNow' is not expected at this location.".into(),
            )
        })
    }

    fn new_guid(&self) -> Result<uuid::Uuid, ExpressionError> {
        match self.now {
            Some(_) => Ok(uuid::Uuid::from_u128(
                0xb76a51fc_bd72_4a77_b9a2_3c29e7d2e551,
            )),
            None => Err(ExpressionError::Evaluation(
                "The template function 'newGuid' is not expected at this location.".into(),
            )),
        }
    }
}

/// Evaluates a template string against [`TestScope::default`]; panics on an error.
pub(crate) fn eval(text: &str) -> Value {
    eval_in(text, &TestScope::default()).unwrap_or_else(|err| panic!("{text}: {err}"))
}

/// Evaluates a template string; the error's message, or a panic if it succeeded.
pub(crate) fn eval_err(text: &str) -> String {
    match eval_in(text, &TestScope::default()) {
        Ok(value) => panic!("{text}: expected an error, got {value}"),
        Err(err) => err.to_string(),
    }
}

pub(crate) fn eval_in(text: &str, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    evaluate(&parse_template_string(text)?, scope)
}
