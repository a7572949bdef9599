//! The token issuer (client credentials, OpenID discovery, JWKS), bearer-token checks,
//! subscription grants, the ARM basics (tenants, subscriptions, metadata) and `/_sim`.

use crate::management::app::ManagementApp;

async fn bootstrap_client_gets_a_token(app: ManagementApp) {
    assert_eq!(app.token.split('.').count(), 3, "a JWT");
}

crate::on_both_backends!(bootstrap_client_gets_a_token);
