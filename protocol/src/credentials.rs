//! `credentials.json`: the bootstrap admin client the service writes into its data
//! directory on first start, and which the agent, the load generator and the tests read to
//! get a management token with the OAuth 2.0 client-credentials grant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The file's name in the service's data directory.
pub const FILE_NAME: &str = "credentials.json";

/// The file's content. The service writes it once; the secret exists nowhere else (the
/// service stores only its digest).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentials {
    pub tenant_id: String,
    pub subscription_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Everything but the secret, so the credentials can be logged or shown in a panic.
impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("subscription_id", &self.subscription_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> ClientCredentials {
        ClientCredentials {
            tenant_id: "t".into(),
            subscription_id: "s".into(),
            client_id: "c".into(),
            client_secret: "SECRET".into(),
        }
    }

    #[test]
    fn the_file_round_trips_with_camel_case_fields_in_order() {
        let json = serde_json::to_string_pretty(&credentials()).unwrap();
        assert_eq!(
            json,
            "{\n  \"tenantId\": \"t\",\n  \"subscriptionId\": \"s\",\n  \"clientId\": \"c\",\n  \
             \"clientSecret\": \"SECRET\"\n}"
        );
        let read: ClientCredentials = serde_json::from_str(&json).unwrap();
        assert_eq!(read, credentials());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let debug = format!("{:?}", credentials());
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("\"c\""), "{debug}");
    }
}
