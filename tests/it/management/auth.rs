//! The token issuer (client credentials, OpenID discovery, JWKS), bearer-token checks,
//! subscription grants, the ARM basics (metadata, tenants, subscriptions) and `/_sim`.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::Method;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::RsaPrivateKey;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use vaultsim::auth::secrets;
use vaultsim_protocol::credentials::ClientCredentials;

use crate::helpers::ServiceProcess;
use crate::management::app::{ArmResponse, ManagementApp};

const ARM_SCOPE: &str = "https://management.core.windows.net//.default";
const ARM_AUDIENCE: &str = "https://management.core.windows.net/";

impl ManagementApp {
    /// `POST /{tenant}/oauth2/v2.0/token` with `form`.
    pub async fn token_v2(&self, tenant: &str, form: &[(&str, &str)]) -> ArmResponse {
        self.post_form(&format!("/{tenant}/oauth2/v2.0/token"), form)
            .await
    }

    /// `POST /{tenant}/oauth2/token` (v1) with `form`.
    pub async fn token_v1(&self, tenant: &str, form: &[(&str, &str)]) -> ArmResponse {
        self.post_form(&format!("/{tenant}/oauth2/token"), form)
            .await
    }

    /// `POST /adfs/oauth2/token` with `form`.
    pub async fn token_adfs(&self, form: &[(&str, &str)]) -> ArmResponse {
        self.post_form("/adfs/oauth2/token", form).await
    }

    /// `GET /{prefix}/.well-known/openid-configuration`; `prefix` is `{tenant}/v2.0`,
    /// `{tenant}` or `adfs`.
    pub async fn openid_configuration(&self, prefix: &str) -> ArmResponse {
        self.get_unauthenticated(&format!("/{prefix}/.well-known/openid-configuration"))
            .await
    }

    /// `GET /{prefix}/keys`; `prefix` is `{tenant}/discovery/v2.0`, `{tenant}/discovery` or
    /// `adfs/discovery`.
    pub async fn jwks(&self, prefix: &str) -> ArmResponse {
        self.get_unauthenticated(&format!("/{prefix}/keys")).await
    }

    pub async fn metadata_endpoints(&self) -> ArmResponse {
        self.send_as(None, Method::GET, "/metadata/endpoints", None)
            .await
    }

    pub async fn list_tenants(&self) -> ArmResponse {
        self.get("/tenants").await
    }

    pub async fn list_subscriptions(&self, token: &str) -> ArmResponse {
        self.send_as(Some(token), Method::GET, "/subscriptions", None)
            .await
    }

    pub async fn get_subscription(&self, token: &str, subscription: &str) -> ArmResponse {
        self.send_as(
            Some(token),
            Method::GET,
            &format!("/subscriptions/{subscription}"),
            None,
        )
        .await
    }

    pub async fn sim_create_subscription(&self, token: &str, body: Value) -> ArmResponse {
        self.send_as(Some(token), Method::POST, "/_sim/subscriptions", Some(body))
            .await
    }

    pub async fn sim_create_principal(&self, token: &str, body: Value) -> ArmResponse {
        self.send_as(Some(token), Method::POST, "/_sim/principals", Some(body))
            .await
    }

    pub async fn sim_grant(&self, client_id: &str, subscription: &str) -> ArmResponse {
        let path = format!("/_sim/principals/{client_id}/subscriptions/{subscription}");
        self.send(Method::PUT, &path, None).await
    }

    pub async fn sim_revoke(&self, client_id: &str, subscription: &str) -> ArmResponse {
        let path = format!("/_sim/principals/{client_id}/subscriptions/{subscription}");
        self.send(Method::DELETE, &path, None).await
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> ArmResponse {
        let request = self.http.post(self.url(path)).form(form);
        reply(request.send().await.expect("the service answers")).await
    }

    async fn get_unauthenticated(&self, path: &str) -> ArmResponse {
        reply(self.http.get(self.url(path)).send().await.unwrap()).await
    }
}

async fn reply(response: reqwest::Response) -> ArmResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    ArmResponse {
        status,
        headers,
        body,
    }
}

/// A client-credentials form for the bootstrap client (v2 style).
fn admin_form(credentials: &ClientCredentials) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", credentials.client_id.clone()),
        ("client_secret", credentials.client_secret.clone()),
        ("scope", ARM_SCOPE.into()),
    ]
}

fn borrowed<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The same form with `name` set to `value` (`None`: removed).
fn with(
    form: &[(&'static str, String)],
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut form: Vec<_> = form.iter().filter(|(k, _)| *k != name).cloned().collect();
    if let Some(value) = value {
        form.push((name, value.to_owned()));
    }
    form
}

/// Decodes `token` with the first key of a JWKS document, checking audience and issuer.
fn decode_with_jwks(token: &str, jwks: &Value, audience: &str, issuer: &str) -> Value {
    let key = &jwks["keys"][0];
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        key["kid"].as_str(),
        "kid names the key"
    );
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("the token verifies against the JWKS")
        .claims
}

/// Signs `claims` with `key` under key id `kid`.
fn sign(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let der = key.to_pkcs1_der().unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

/// The service's own signing key, from its database.
async fn service_key(app: &ManagementApp) -> RsaPrivateKey {
    let db = app.db().await;
    let pem = secrets::get(db.pool(), secrets::TOKEN_SIGNING_KEY)
        .await
        .unwrap()
        .expect("the database holds the signing key");
    RsaPrivateKey::from_pkcs8_pem(pem.expose_secret()).unwrap()
}

/// Claims like the service's, for `client_id`, valid from `iat` for an hour.
fn claims_for(app: &ManagementApp, iat: i64) -> Value {
    let c = &app.credentials;
    json!({
        "aud": ARM_AUDIENCE,
        "iss": format!("http://{}/{}/v2.0", app.addr, c.tenant_id),
        "iat": iat, "nbf": iat, "exp": iat + 3600,
        "tid": c.tenant_id, "oid": c.client_id, "sub": c.client_id,
        "appid": c.client_id, "azp": c.client_id, "ver": "2.0",
    })
}

/// The id of the key the service signs with, from its JWKS.
pub(super) async fn kid_of(app: &ManagementApp) -> String {
    let jwks = app
        .jwks(&format!("{}/discovery/v2.0", app.credentials.tenant_id))
        .await;
    jwks.body["keys"][0]["kid"].as_str().unwrap().to_owned()
}

/// A new principal without grants, and its token.
async fn new_principal(app: &ManagementApp, subscriptions: &[&str]) -> (String, String) {
    let created = app
        .sim_create_principal(
            &app.token,
            json!({"displayName": "reader", "subscriptionIds": subscriptions}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let client_id = created.body["clientId"].as_str().unwrap().to_owned();
    let secret = created.body["clientSecret"].as_str().unwrap();
    let token = app.client_credentials_token(&client_id, secret).await;
    (client_id, token)
}

fn assert_aad_error(response: &ArmResponse, status: u16, error: &str, code: u64) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.body["error"], error);
    assert_eq!(response.body["error_codes"], json!([code]));
    let description = response.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(
            response.body[field].is_string(),
            "{field} in {:?}",
            response.body
        );
    }
}

async fn tokens_from_v2_v1_and_adfs_verify_against_the_jwks(app: ManagementApp) {
    let c = &app.credentials;
    let issuer = format!("http://{}/{}/v2.0", app.addr, c.tenant_id);
    let form = admin_form(c);
    // The tenant in the path matches case-insensitively; unknown fields are ignored.
    let mut v2_form = with(
        &form,
        "claims",
        Some(r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#),
    );
    v2_form.push(("client_info", "1".into()));
    let v2 = app
        .token_v2(&c.tenant_id.to_uppercase(), &borrowed(&v2_form))
        .await;
    assert_eq!(v2.status, 200, "{:?}", v2.body);
    assert_eq!(v2.body["token_type"], "Bearer");
    assert_eq!(v2.body["expires_in"], 3599);
    assert_eq!(v2.body["ext_expires_in"], 3599);

    let v1_form = with(&with(&form, "scope", None), "resource", Some(ARM_AUDIENCE));
    let v1 = app.token_v1(&c.tenant_id, &borrowed(&v1_form)).await;
    assert_eq!(v1.status, 200, "{:?}", v1.body);
    assert_eq!(v1.body["resource"], ARM_AUDIENCE);
    let adfs = app.token_adfs(&borrowed(&form)).await;
    assert_eq!(adfs.status, 200, "{:?}", adfs.body);

    let jwks = app.jwks(&format!("{}/discovery/v2.0", c.tenant_id)).await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (&key["kty"], &key["use"], &key["alg"], &key["e"]),
        (
            &json!("RSA"),
            &json!("sig"),
            &json!("RS256"),
            &json!("AQAB")
        )
    );
    assert!(!key["n"].as_str().unwrap().contains('='), "no padding");
    for prefix in [
        format!("{}/discovery", c.tenant_id),
        "adfs/discovery".into(),
    ] {
        assert_eq!(app.jwks(&prefix).await.body, jwks.body, "{prefix}");
    }

    for response in [&v2, &v1, &adfs] {
        let token = response.body["access_token"].as_str().unwrap();
        let claims = decode_with_jwks(token, &jwks.body, ARM_AUDIENCE, &issuer);
        for claim in ["oid", "sub", "appid", "azp"] {
            assert_eq!(claims[claim], c.client_id.as_str(), "{claim}");
        }
        assert_eq!(claims["tid"], c.tenant_id.as_str());
        assert_eq!(claims["ver"], "2.0");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 3600);
        assert_eq!(claims["nbf"], claims["iat"]);
        assert!(
            (iat - chrono::Utc::now().timestamp()).abs() < 60,
            "wall-clock iat"
        );
    }
    let expires_on: i64 = v1.body["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(expires_on > chrono::Utc::now().timestamp() + 3000);
    // Each token is accepted by the management API.
    for response in [&v2, &v1, &adfs] {
        let token = response.body["access_token"].as_str().unwrap();
        let listed = app.list_subscriptions(token).await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
    }
}

async fn discovery_documents_name_absolute_endpoints(app: ManagementApp) {
    let tenant = &app.credentials.tenant_id;
    let base = format!("http://{}", app.addr);
    let issuer = format!("{base}/{tenant}/v2.0");
    let cases = [
        (
            format!("{}/v2.0", tenant.to_uppercase()),
            format!("{base}/{tenant}/oauth2/v2.0/token"),
            format!("{base}/{tenant}/discovery/v2.0/keys"),
        ),
        (
            tenant.clone(),
            format!("{base}/{tenant}/oauth2/token"),
            format!("{base}/{tenant}/discovery/keys"),
        ),
        (
            "adfs".to_owned(),
            format!("{base}/adfs/oauth2/token"),
            format!("{base}/adfs/discovery/keys"),
        ),
    ];
    for (prefix, token_endpoint, jwks_uri) in cases {
        let doc = app.openid_configuration(&prefix).await;
        assert_eq!(doc.status, 200, "{prefix}: {:?}", doc.body);
        let doc = doc.body;
        assert_eq!(doc["issuer"], issuer.as_str(), "{prefix}");
        assert_eq!(doc["token_endpoint"], token_endpoint.as_str());
        assert_eq!(doc["jwks_uri"], jwks_uri.as_str());
        let authorize = token_endpoint.replace("/token", "/authorize");
        assert_eq!(doc["authorization_endpoint"], authorize.as_str());
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_post"])
        );
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        for field in [
            "response_types_supported",
            "subject_types_supported",
            "tenant_region_scope",
        ] {
            assert!(!doc[field].is_null(), "{field}");
        }
        // The advertised JWKS is served.
        let path = jwks_uri.strip_prefix(&base).unwrap();
        let keys = reply(app.http.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(keys.status, 200);
        assert_eq!(keys.body["keys"].as_array().unwrap().len(), 1);
    }
    let unknown = app
        .openid_configuration(&format!("{}/v2.0", uuid::Uuid::new_v4()))
        .await;
    assert_aad_error(&unknown, 400, "invalid_tenant", 90002);
}

async fn token_errors_use_aadsts_codes(app: ManagementApp) {
    let c = &app.credentials;
    let form = admin_form(c);
    let wrong_secret = "not-the-secret-d41d8cd98f00b204e9800998ecf8427e";
    let bad_secret = app
        .token_v2(
            &c.tenant_id,
            &borrowed(&with(&form, "client_secret", Some(wrong_secret))),
        )
        .await;
    assert_aad_error(&bad_secret, 401, "invalid_client", 7000215);
    let text = bad_secret.body.to_string();
    assert!(!text.contains(wrong_secret) && !text.contains(&c.client_secret));

    let stranger = uuid::Uuid::new_v4().to_string();
    let unknown_client = app
        .token_v2(
            &c.tenant_id,
            &borrowed(&with(&form, "client_id", Some(&stranger))),
        )
        .await;
    assert_aad_error(&unknown_client, 400, "unauthorized_client", 700016);
    assert!(unknown_client.body["error_description"]
        .as_str()
        .unwrap()
        .contains(&stranger));

    let wrong_tenant = app
        .token_v2(&uuid::Uuid::new_v4().to_string(), &borrowed(&form))
        .await;
    assert_aad_error(&wrong_tenant, 400, "invalid_request", 90002);

    let password = with(&form, "grant_type", Some("password"));
    let unsupported = app.token_v2(&c.tenant_id, &borrowed(&password)).await;
    assert_aad_error(&unsupported, 400, "unsupported_grant_type", 70003);

    for missing in ["grant_type", "client_id", "client_secret", "scope"] {
        let response = app
            .token_v2(&c.tenant_id, &borrowed(&with(&form, missing, None)))
            .await;
        assert_aad_error(&response, 400, "invalid_request", 900144);
        let description = response.body["error_description"].as_str().unwrap();
        assert!(
            description.contains(&format!("'{missing}'")),
            "{description}"
        );
    }
    // v1 needs `resource`.
    let v1 = app.token_v1(&c.tenant_id, &borrowed(&form)).await;
    assert_aad_error(&v1, 400, "invalid_request", 900144);
    // A JSON body is not a form: no parameters at all.
    let json_body = app
        .http
        .post(app.url("/adfs/oauth2/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_aad_error(&reply(json_body).await, 400, "invalid_request", 900144);
}

async fn management_calls_without_a_valid_token_get_401(app: ManagementApp) {
    let path = app.subscription_path();
    let kid = kid_of(&app).await;
    let other_key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let now = chrono::Utc::now().timestamp();
    let forged = sign(&other_key, &kid, &claims_for(&app, now));
    let unknown_kid = sign(
        &service_key(&app).await,
        "another-kid",
        &claims_for(&app, now),
    );
    let mut tampered = app.token.clone();
    tampered.push_str("AAAA");
    for token in [
        None,
        Some("garbage"),
        Some("a.b.c"),
        Some(forged.as_str()),
        Some(unknown_kid.as_str()),
        Some(tampered.as_str()),
    ] {
        let response = app.send_as(token, Method::GET, &path, None).await;
        assert_eq!(response.status, 401, "{token:?}: {:?}", response.body);
        assert_eq!(response.error_code(), "InvalidAuthenticationToken");
        assert!(!response.body["error"]["message"]
            .as_str()
            .unwrap()
            .is_empty());
        assert!(response.header("www-authenticate").starts_with("Bearer"));
    }
    // A token that is not a Bearer one.
    let basic = app
        .http
        .get(app.url("/subscriptions?api-version=2022-12-01"))
        .basic_auth("user", Some("password"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // The service's own key with a valid token is fine: the check is the signature.
    let own = sign(&service_key(&app).await, &kid, &claims_for(&app, now));
    assert_eq!(
        app.send_as(Some(&own), Method::GET, &path, None)
            .await
            .status,
        200
    );
}

async fn an_expired_token_gets_401_expired(app: ManagementApp) {
    let kid = kid_of(&app).await;
    let two_hours_ago = chrono::Utc::now().timestamp() - 7200;
    let expired = sign(
        &service_key(&app).await,
        &kid,
        &claims_for(&app, two_hours_ago),
    );
    let response = app
        .send_as(Some(&expired), Method::GET, "/subscriptions", None)
        .await;
    assert_eq!(response.status, 401, "{:?}", response.body);
    assert_eq!(response.error_code(), "ExpiredAuthenticationToken");
}

async fn a_deleted_principals_token_is_refused(app: ManagementApp) {
    let (client_id, token) = new_principal(&app, &[]).await;
    assert_eq!(app.list_subscriptions(&token).await.status, 200);
    let db = app.db().await;
    sqlx::query("delete from principal where client_id = $1")
        .bind(&client_id)
        .execute(db.pool())
        .await
        .unwrap();
    // A change made outside the service (as by another replica) applies once the service's
    // directory cache (2 s) has expired.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.list_subscriptions(&token).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.error_code(), "InvalidAuthenticationToken");
}

async fn grants_decide_what_a_principal_may_address(app: ManagementApp) {
    let subscription = app.credentials.subscription_id.clone();
    let (client_id, token) = new_principal(&app, &[]).await;
    let denied = app.get_subscription(&token, &subscription).await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    assert_eq!(denied.error_code(), "AuthorizationFailed");
    assert_eq!(
        denied.body["error"]["message"],
        format!(
            "The client '{client_id}' with object id '{client_id}' does not have authorization \
             to perform action over scope '/subscriptions/{subscription}' or the scope is \
             invalid. If access was recently granted, please refresh your credentials."
        )
    );
    let listed = app.list_subscriptions(&token).await;
    assert_eq!(listed.body, json!({"value": []}));

    let granted = app
        .sim_grant(&client_id, &subscription.to_uppercase())
        .await;
    assert_eq!(granted.status, 201, "{:?}", granted.body);
    assert_eq!(granted.body["subscriptionId"], subscription.as_str());
    assert_eq!(app.sim_grant(&client_id, &subscription).await.status, 200);
    let got = app.get_subscription(&token, &subscription).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let listed = app.list_subscriptions(&token).await;
    let ids: Vec<&str> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriptionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [subscription.as_str()]);

    let revoked = app.sim_revoke(&client_id, &subscription).await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    assert_eq!(
        app.get_subscription(&token, &subscription).await.status,
        403
    );
    let again = app.sim_revoke(&client_id, &subscription).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.error_code(), "GrantNotFound");
}

async fn subscriptions_list_only_granted_ones(app: ManagementApp) {
    let created = app
        .sim_create_subscription(&app.token, json!({"displayName": "second"}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let second = created.body["subscriptionId"].as_str().unwrap().to_owned();
    assert_eq!(created.body["id"], format!("/subscriptions/{second}"));
    assert_eq!(created.body["displayName"], "second");
    assert_eq!(created.body["tenantId"], app.credentials.tenant_id.as_str());

    // The admin sees both, in creation order.
    let listed = app.list_subscriptions(&app.token).await;
    let ids: Vec<&str> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriptionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [app.credentials.subscription_id.as_str(), &second]);
    // A principal granted only the second sees only it.
    let (_, token) = new_principal(&app, &[&second]).await;
    let listed = app.list_subscriptions(&token).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["value"][0]["subscriptionId"], second.as_str());
    assert_eq!(
        app.get_subscription(&token, &app.credentials.subscription_id)
            .await
            .status,
        403
    );
}

async fn subscriptions_have_the_arm_shape(app: ManagementApp) {
    let c = &app.credentials;
    let got = app.get_subscription(&app.token, &c.subscription_id).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(
        got.body,
        json!({
            "id": format!("/subscriptions/{}", c.subscription_id),
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": c.subscription_id,
            "tenantId": c.tenant_id,
            "displayName": "vaultsim",
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off"
            }
        })
    );
    // Subscription ids match case-insensitively.
    let upper = app
        .get_subscription(&app.token, &c.subscription_id.to_uppercase())
        .await;
    assert_eq!(upper.status, 200);
    assert_eq!(upper.body["subscriptionId"], c.subscription_id.as_str());
    let listed = app.list_subscriptions(&app.token).await;
    assert_eq!(listed.body, json!({"value": [got.body]}));
}

async fn an_unknown_subscription_is_404(app: ManagementApp) {
    let unknown = uuid::Uuid::new_v4().to_string();
    let response = app.get_subscription(&app.token, &unknown).await;
    assert_eq!(response.status, 404, "{:?}", response.body);
    assert_eq!(response.error_code(), "SubscriptionNotFound");
    assert_eq!(
        response.body["error"]["message"],
        format!("The subscription '{unknown}' could not be found.")
    );
}

async fn tenants_and_metadata_endpoints(app: ManagementApp) {
    let tenants = app.list_tenants().await;
    assert_eq!(tenants.status, 200, "{:?}", tenants.body);
    let t = &app.credentials.tenant_id;
    assert_eq!(
        tenants.body,
        json!({"value": [{"id": format!("/tenants/{t}"), "tenantId": t,
                          "tenantCategory": "Home", "displayName": "vaultsim"}]})
    );
    // No token needed: `az cloud register` reads it before signing in.
    let endpoints = app.metadata_endpoints().await;
    assert_eq!(endpoints.status, 200, "{:?}", endpoints.body);
    let base = format!("http://{}", app.addr);
    let doc = &endpoints.body;
    assert_eq!(doc["name"], "vaultsim");
    assert_eq!(doc["resourceManager"], format!("{base}/"));
    assert_eq!(
        doc["authentication"]["loginEndpoint"],
        format!("{base}/adfs")
    );
    assert_eq!(
        doc["authentication"]["audiences"],
        json!([ARM_AUDIENCE, format!("{base}/")])
    );
    for field in ["galleryEndpoint", "graphEndpoint", "portal"] {
        assert!(doc[field].is_string(), "{field}");
    }
    assert!(doc["suffixes"]["storage"].is_string());
    assert!(doc["suffixes"]["keyVaultDns"].is_string());
}

async fn only_admins_use_the_sim_api(app: ManagementApp) {
    let (client_id, token) = new_principal(&app, &[]).await;
    let attempts = [
        app.sim_create_subscription(&token, json!({"displayName": "mine"}))
            .await,
        app.sim_create_principal(&token, json!({"displayName": "friend"}))
            .await,
        app.send_as(
            Some(&token),
            Method::PUT,
            &format!(
                "/_sim/principals/{client_id}/subscriptions/{}",
                app.credentials.subscription_id
            ),
            None,
        )
        .await,
    ];
    for response in attempts {
        assert_eq!(response.status, 403, "{:?}", response.body);
        assert_eq!(response.error_code(), "AuthorizationFailed");
    }
    // The grant was not made.
    assert_eq!(
        app.list_subscriptions(&token).await.body,
        json!({"value": []})
    );
    let anonymous = app
        .send_as(
            None,
            Method::POST,
            "/_sim/subscriptions",
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error_code(), "InvalidAuthenticationToken");
}

async fn the_sim_api_validates_its_input(app: ManagementApp) {
    let token = &app.token;
    for body in [
        json!({}),
        json!({"displayName": ""}),
        json!({"displayName": "   "}),
        json!({"displayName": "x".repeat(65)}),
        json!({"displayName": 5}),
        json!({"displayName": "ok", "unexpected": true}),
    ] {
        let response = app.sim_create_subscription(token, body.clone()).await;
        assert_eq!(response.status, 400, "{body}: {:?}", response.body);
        assert_eq!(response.error_code(), "InvalidRequestContent", "{body}");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    let response = app
        .sim_create_principal(
            token,
            json!({"displayName": "p", "subscriptionIds": [app.credentials.subscription_id, unknown]}),
        )
        .await;
    assert_eq!(response.status, 404, "{:?}", response.body);
    assert_eq!(response.error_code(), "SubscriptionNotFound");
    assert!(response.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&unknown));
    // Nothing was created: still one principal (the admin).
    let db = app.db().await;
    let principals: i64 = sqlx::query_scalar("select count(*) from principal")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(principals, 1);
    let malformed = app
        .sim_create_principal(
            token,
            json!({"displayName": "p", "subscriptionIds": ["not-a-guid"]}),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.error_code(), "InvalidSubscriptionId");

    let nobody = uuid::Uuid::new_v4().to_string();
    let grant = app
        .sim_grant(&nobody, &app.credentials.subscription_id)
        .await;
    assert_eq!(grant.status, 404);
    assert_eq!(grant.error_code(), "PrincipalNotFound");
    let (client_id, _) = new_principal(&app, &[]).await;
    let grant = app.sim_grant(&client_id, &unknown).await;
    assert_eq!(grant.status, 404);
    assert_eq!(grant.error_code(), "SubscriptionNotFound");
}

async fn a_restart_keeps_the_key_and_the_credentials(mut app: ManagementApp) {
    let dir = app.data_dir.path().to_owned();
    let credentials_before = std::fs::read(dir.join("credentials.json")).unwrap();
    let kid_before = kid_of(&app).await;
    app.crash_and_restart().await;
    assert_eq!(
        std::fs::read(dir.join("credentials.json")).unwrap(),
        credentials_before
    );
    // A token from before the restart still works, and the key is the same.
    let listed = app.get("/subscriptions?api-version=2022-12-01").await;
    assert_eq!(listed.status, 200);
    assert_eq!(kid_of(&app).await, kid_before);
    // The same bootstrap: still one admin, and its secret still works.
    let token = app
        .token_adfs(&borrowed(&admin_form(&app.credentials)))
        .await;
    assert_eq!(token.status, 200);
    let db = app.db().await;
    let admins: i64 = sqlx::query_scalar("select count(*) from principal where is_admin = 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(admins, 1);
}

async fn no_auth_mode_serves_management_calls_without_a_token(mut app: ManagementApp) {
    app.crash_and_restart_with(|config| config.no_auth = true)
        .await;
    let subscription = app.credentials.subscription_id.clone();
    for token in [None, Some("garbage")] {
        let response = app
            .send_as(
                token,
                Method::GET,
                &format!("/subscriptions/{subscription}?api-version=2022-12-01"),
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{token:?}");
        assert_eq!(response.body["subscriptionId"], subscription.as_str());
    }
    // Unknown subscriptions are still 404.
    let unknown = app
        .send_as(
            None,
            Method::GET,
            &format!(
                "/subscriptions/{}?api-version=2022-12-01",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
}

async fn credential_files_are_private(app: ManagementApp) {
    let mode = std::fs::metadata(app.data_dir.path().join("credentials.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !app.data_dir.path().join("jwt-signing-key.pem").exists(),
        "the signing key is in the database, not in a file"
    );
    let credentials: Value = serde_json::from_slice(
        &std::fs::read(app.data_dir.path().join("credentials.json")).unwrap(),
    )
    .unwrap();
    let mut keys: Vec<&str> = credentials
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["clientId", "clientSecret", "subscriptionId", "tenantId"]
    );
    // The directory stores only the digest of the secret.
    let db = app.db().await;
    let stored: String = sqlx::query_scalar("select secret_sha256 from principal")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 64);
    assert_ne!(stored, app.credentials.client_secret);
}

crate::on_both_backends!(
    tokens_from_v2_v1_and_adfs_verify_against_the_jwks,
    discovery_documents_name_absolute_endpoints,
    token_errors_use_aadsts_codes,
    management_calls_without_a_valid_token_get_401,
    an_expired_token_gets_401_expired,
    a_deleted_principals_token_is_refused,
    grants_decide_what_a_principal_may_address,
    subscriptions_list_only_granted_ones,
    subscriptions_have_the_arm_shape,
    an_unknown_subscription_is_404,
    tenants_and_metadata_endpoints,
    only_admins_use_the_sim_api,
    the_sim_api_validates_its_input,
    a_restart_keeps_the_key_and_the_credentials,
    no_auth_mode_serves_management_calls_without_a_token,
    credential_files_are_private,
);

/// The real binary at debug level: the client secret and tokens never reach the log, and
/// the log says where the credentials are.
#[tokio::test]
async fn secrets_and_tokens_stay_out_of_the_log() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(data.path(), "debug");
    let addr = management_addr(&service).await;
    let credentials: ClientCredentials =
        serde_json::from_slice(&std::fs::read(data.path().join("credentials.json")).unwrap())
            .unwrap();
    let http = reqwest::Client::new();
    let form = admin_form(&credentials);
    let url = format!("http://{addr}/{}/oauth2/v2.0/token", credentials.tenant_id);
    let response = http.post(&url).form(&borrowed(&form)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let wrong = with(
        &form,
        "client_secret",
        Some("wrong-secret-value-0123456789"),
    );
    let refused = http
        .post(&url)
        .form(&borrowed(&wrong))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let listed = http
        .get(format!(
            "http://{addr}/subscriptions?api-version=2022-12-01"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let created = http
        .post(format!("http://{addr}/_sim/principals"))
        .bearer_auth(&token)
        .json(&json!({"displayName": "p"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = service.log();
    let path = data.path().join("credentials.json");
    assert!(
        log.contains(&path.display().to_string()) && log.contains("jq -r .clientSecret"),
        "the log says how to get a token:\n{log}"
    );
    let signature = token.rsplit('.').next().unwrap();
    for secret in [
        credentials.client_secret.as_str(),
        "wrong-secret-value-0123456789",
        created["clientSecret"].as_str().unwrap(),
        signature,
    ] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
}

/// The management API's address, from the service's log.
async fn management_addr(service: &ServiceProcess) -> SocketAddr {
    for _ in 0..100 {
        if let Some(addr) = service.log().lines().find_map(|line| {
            line.split("management API listening addr=")
                .nth(1)
                .and_then(|a| a.trim().parse().ok())
        }) {
            return addr;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the service logs its management address:\n{}",
        service.log()
    );
}

/// Every API answers a body it cannot take in its own JSON error shape: 413
/// `RequestContentTooLarge` past ARM's 4 MB, 400 `InvalidRequestContent` for malformed
/// JSON; never axum's plain text.
#[tokio::test]
async fn oversized_and_malformed_bodies_get_each_apis_json_error() {
    let app = ManagementApp::spawn(crate::management::app::Backend::Sqlite).await;
    let huge = vec![b' '; (4 << 20) + 1];
    let targets = [
        (Method::POST, app.url("/_sim/subscriptions"), true),
        (Method::POST, app.url("/_sim/clock/advance"), true),
        (Method::PUT, app.url("/_sim/clock"), true),
        (
            Method::PUT,
            app.url(&format!("{}?api-version=2021-04-01", app.group_path("rg"))),
            true,
        ),
        (Method::POST, app.guest_url("/machine/register"), true),
        (
            Method::PUT,
            app.guest_url("/machine/extensions/VMSnapshotLinux/status"),
            false,
        ),
    ];
    for (method, url, admin) in targets {
        for (body, status, code) in [
            (huge.clone(), 413, "RequestContentTooLarge"),
            (b"{\"by\": ".to_vec(), 400, "InvalidRequestContent"),
        ] {
            let mut request = app
                .http
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body(body);
            if admin {
                request = request.bearer_auth(&app.token);
            } else {
                request = request.bearer_auth("not-a-registered-credential");
            }
            let response = request.send().await.unwrap();
            let got = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let text = response.text().await.unwrap();
            // The status route checks the VM's credential before the body: 401, as JSON.
            let (status, code) = if admin {
                (status, code)
            } else {
                (401, "InvalidCredential")
            };
            assert_eq!(got, status, "{method} {url}: {text}");
            assert!(
                content_type.starts_with("application/json"),
                "{method} {url}: {content_type}"
            );
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {url}: not JSON: {text}"));
            assert_eq!(body["error"]["code"], code, "{method} {url}");
        }
    }
}
