//! Management API workloads: `arm-seed` fills a vault with protected VMs through the ARM
//! routes, `arm-read` reads them at a fixed request rate (open loop: each request is sent at
//! its scheduled time whatever the server's speed, and its latency counts from that time, so
//! a slow server cannot hide its queueing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::{json, Value};
use vaultsim_protocol::credentials::ClientCredentials;

use crate::cli::{ArmArgs, ArmRead};
use crate::report::{percentile, round3};

const API_VERSION: &str = "api-version=2026-07-01";

/// A bearer-token client for one management API on loopback.
pub struct ArmClient {
    http: Client<HttpConnector, Full<Bytes>>,
    base: String,
    authorization: String,
}

impl ArmClient {
    /// Signs in with the client-credentials grant; returns the client and the subscription.
    pub async fn sign_in(args: &ArmArgs) -> anyhow::Result<(Self, String)> {
        let base = args.management_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://127.") || base.starts_with("http://localhost")) {
            bail!("--management-url must be a loopback http URL");
        }
        let credentials: ClientCredentials = serde_json::from_slice(
            &std::fs::read(&args.credentials)
                .with_context(|| format!("reading {}", args.credentials.display()))?,
        )
        .context("credentials.json is not what vaultsim writes")?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default",
            credentials.client_id, credentials.client_secret
        );
        let request = Request::post(format!(
            "{base}/{}/oauth2/v2.0/token",
            credentials.tenant_id
        ))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))?;
        let (status, body) = exchange(&http, request).await?;
        if status != StatusCode::OK {
            bail!("token request refused: {status}");
        }
        let token: Value = serde_json::from_slice(&body)?;
        let token = token["access_token"]
            .as_str()
            .context("no access_token in the token reply")?;
        Ok((
            Self {
                http,
                base,
                authorization: format!("Bearer {token}"),
            },
            credentials.subscription_id,
        ))
    }

    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Request<Full<Bytes>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}{separator}{API_VERSION}", self.base))
            .header(AUTHORIZATION, &self.authorization);
        match body {
            Some(body) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_string()))),
            None => builder.body(Full::new(Bytes::new())),
        }
        .expect("request parts are valid")
    }

    /// Sends and requires a 2xx answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Bytes> {
        let (status, reply) =
            exchange(&self.http, self.request(method.clone(), path, body)).await?;
        if !status.is_success() {
            bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&reply)
            );
        }
        Ok(reply)
    }
}

async fn exchange(
    http: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let response = http.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn vault_path(subscription: &str, args: &ArmArgs) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
        args.group, args.vault
    )
}

fn vm_name(index: u64) -> String {
    format!("vm{index:06}")
}

fn item_path(subscription: &str, args: &ArmArgs, index: u64) -> String {
    let vm = vm_name(index);
    format!(
        "{}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{group};{vm}/protectedItems/VM;iaasvmcontainerv2;{group};{vm}",
        vault_path(subscription, args),
        group = args.group
    )
}

#[derive(Debug, Serialize)]
pub struct SeedReport {
    workload: &'static str,
    target: String,
    items: u64,
    vm_seconds: f64,
    protect_seconds: f64,
}

/// Creates the group, the vault and `items` Linux VMs, each protected with DefaultPolicy.
/// Idempotent: PUTs of what exists succeed again.
pub async fn seed(args: &ArmArgs, items: u64, concurrency: usize) -> anyhow::Result<SeedReport> {
    let (client, subscription) = ArmClient::sign_in(args).await?;
    let client = Arc::new(client);
    let group_path = format!(
        "/subscriptions/{subscription}/resourceGroups/{}",
        args.group
    );
    let location = json!({"location": args.location});
    client
        .call(Method::PUT, &group_path, Some(&location))
        .await?;
    let vault = vault_path(&subscription, args);
    let vault_body =
        json!({"location": args.location, "sku": {"name": "Standard"}, "properties": {}});
    client.call(Method::PUT, &vault, Some(&vault_body)).await?;

    let vm_body = json!({
        "location": args.location,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B1s"},
            "storageProfile": {"osDisk": {"osType": "Linux", "createOption": "FromImage", "diskSizeGB": 30}},
        }
    });
    let started = Instant::now();
    for_each_index(items, concurrency, {
        let (client, group_path, vm_body) = (client.clone(), group_path.clone(), vm_body.clone());
        move |i| {
            let (client, vm_body) = (client.clone(), vm_body.clone());
            let path = format!(
                "{group_path}/providers/Microsoft.Compute/virtualMachines/{}",
                vm_name(i)
            );
            async move {
                client
                    .call(Method::PUT, &path, Some(&vm_body))
                    .await
                    .map(drop)
            }
        }
    })
    .await?;
    let vm_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let policy_id = format!("{vault}/backupPolicies/DefaultPolicy");
    for_each_index(items, concurrency, {
        let (client, subscription, args) = (client.clone(), subscription.clone(), args.clone());
        move |i| {
            let client = client.clone();
            let path = item_path(&subscription, &args, i);
            let body = json!({"properties": {
                "protectedItemType": "Microsoft.Compute/virtualMachines",
                "sourceResourceId": format!("{group_path}/providers/Microsoft.Compute/virtualMachines/{}", vm_name(i)),
                "policyId": policy_id,
            }});
            async move { client.call(Method::PUT, &path, Some(&body)).await.map(drop) }
        }
    })
    .await?;
    Ok(SeedReport {
        workload: "arm-seed",
        target: args.label.clone(),
        items,
        vm_seconds: round3(vm_seconds),
        protect_seconds: round3(started.elapsed().as_secs_f64()),
    })
}

/// Runs `task(0..count)` with `concurrency` in flight; the first failure stops it.
async fn for_each_index<F, Fut>(count: u64, concurrency: usize, task: F) -> anyhow::Result<()>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let task = Arc::new(task);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (task, next) = (task.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(());
                    }
                    task(i).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct ReadReport {
    workload: String,
    target: String,
    target_rate: u64,
    achieved_rate: f64,
    requests: u64,
    pub errors: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
}

/// Sends `rate` requests per second for `seconds`, each at its scheduled instant.
pub async fn read(args: &ArmArgs, read: &ArmRead) -> anyhow::Result<ReadReport> {
    let (client, subscription) = ArmClient::sign_in(args).await?;
    let client = Arc::new(client);
    let vault = vault_path(&subscription, args);
    let path_of = {
        let (args, subscription) = (args.clone(), subscription.clone());
        let kind = read.request;
        let items = read.items;
        move |i: u64| match kind {
            crate::cli::ArmRequestKind::Item => {
                // Spread reads over all items (a multiplicative hash of the index).
                item_path(&subscription, &args, i.wrapping_mul(2_654_435_761) % items)
            }
            crate::cli::ArmRequestKind::Jobs => format!("{vault}/backupJobs"),
        }
    };
    // Warm the connection pool and the server's caches, untimed.
    for i in 0..200 {
        client.call(Method::GET, &path_of(i), None).await?;
    }
    let total = read.rate * read.seconds;
    let interval = Duration::from_secs_f64(1.0 / read.rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let client = client.clone();
        let request = client.request(Method::GET, &path_of(i + 200), None);
        tasks.push(tokio::spawn(async move {
            let outcome = exchange(&client.http, request).await;
            let latency = scheduled.elapsed();
            match outcome {
                Ok((status, _)) if status.is_success() => Ok(latency),
                Ok((status, body)) => Err(format!("{status} {}", String::from_utf8_lossy(&body))),
                Err(error) => Err(error.to_string()),
            }
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await? {
            Ok(latency) => latencies.push(latency.as_micros() as u64),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(ReadReport {
        workload: format!("arm-read-{}", read.request.name()),
        target: args.label.clone(),
        target_rate: read.rate,
        achieved_rate: round3(latencies.len() as f64 / elapsed),
        requests: total,
        errors,
        p50_us: percentile(&latencies, 50.0),
        p90_us: percentile(&latencies, 90.0),
        p99_us: percentile(&latencies, 99.0),
        p999_us: percentile(&latencies, 99.9),
        max_us: latencies.last().copied().unwrap_or(0),
        first_error,
    })
}
