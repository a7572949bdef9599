//! Backup policies as the engine reads them from the database: the scheduler by vault and
//! policy key (cached for one pass), the transfer by the protected item it backs up.

use std::collections::HashMap;
use std::sync::Arc;

use super::EngineError;
use crate::resources::policy::IaasVmPolicy;
use crate::store::Db;

/// Parsed policies by vault and policy key, for one pass.
#[derive(Default)]
pub struct PolicyCache {
    policies: HashMap<(String, String), Option<Arc<IaasVmPolicy>>>,
}

impl PolicyCache {
    /// The policy `policy_key` of the vault; `None` when it is gone.
    pub async fn get(
        &mut self,
        db: &Db,
        vault_id: &str,
        policy_key: &str,
    ) -> Result<Option<Arc<IaasVmPolicy>>, EngineError> {
        let key = (vault_id.to_owned(), policy_key.to_owned());
        if let Some(policy) = self.policies.get(&key) {
            return Ok(policy.clone());
        }
        let properties: Option<String> = sqlx::query_scalar(
            "select properties from backup_policy where vault_id = $1 and name_key = $2",
        )
        .bind(vault_id)
        .bind(policy_key)
        .fetch_optional(db.pool())
        .await?;
        let policy = match properties {
            Some(text) => Some(Arc::new(parse(&text)?)),
            None => None,
        };
        self.policies.insert(key, policy.clone());
        Ok(policy)
    }
}

/// A policy as `backup_policy.properties` stores it.
pub fn parse(properties: &str) -> Result<IaasVmPolicy, EngineError> {
    let value: serde_json::Value =
        serde_json::from_str(properties).map_err(|e| EngineError::corrupt("policy", e))?;
    IaasVmPolicy::from_properties(&value)
        .map_err(|e| EngineError::corrupt("policy", format!("{e:?}")))
}
