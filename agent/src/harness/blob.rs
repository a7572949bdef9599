//! Reading what an extension wrote to storage: the status and log blobs of a task, found in
//! the vault's status container (`bcdrextensionlogs-…`) by the task id, read with the
//! account key (Shared Key), as a user with Storage Explorer would.

use anyhow::{bail, Context};
use secrecy::ExposeSecret;
use vaultsim_protocol::shared_key::{self, SignedRequest};

use crate::workload::StorageAccount;

/// What every vault's status container name starts with.
const STATUS_CONTAINER_PREFIX: &str = "bcdrextensionlogs-";
const API_VERSION: &str = "2021-08-06";

/// An account the harness reads with its key.
pub struct BlobAccount {
    account: StorageAccount,
    http: reqwest::Client,
}

impl BlobAccount {
    pub fn new(account: StorageAccount) -> BlobAccount {
        BlobAccount {
            account,
            http: reqwest::Client::new(),
        }
    }

    /// `GET` of `path` (under the account) with `query`; answers the status and body.
    async fn get(&self, path: &str, query: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.account.endpoint))?;
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let headers = [("x-ms-date", date.as_str()), ("x-ms-version", API_VERSION)];
        let authorization = shared_key::authorization_header(
            &self.account.name,
            self.account.key.expose_secret(),
            &SignedRequest {
                method: "GET",
                headers: &headers,
                path: url.path(),
                query,
            },
        );
        let mut url = url;
        url.set_query((!query.is_empty()).then_some(query));
        let mut request = self.http.get(url).header("authorization", authorization);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.context("the blob endpoint")?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?.to_vec()))
    }

    /// The status containers of the account.
    async fn status_containers(&self) -> anyhow::Result<Vec<String>> {
        let (status, body) = self
            .get("", &format!("comp=list&prefix={STATUS_CONTAINER_PREFIX}"))
            .await?;
        if status != 200 {
            bail!("listing containers answered {status}");
        }
        let text = String::from_utf8_lossy(&body);
        Ok(text
            .split("<Name>")
            .skip(1)
            .filter_map(|rest| rest.split("</Name>").next())
            .map(str::to_owned)
            .collect())
    }

    /// The content of a task's blob (`<taskId>.status` or `<taskId>.log`), if any container
    /// holds it.
    pub async fn task_blob(&self, blob: &str) -> anyhow::Result<Option<Vec<u8>>> {
        for container in self.status_containers().await? {
            let (status, body) = self.get(&format!("/{container}/{blob}"), "").await?;
            if status == 200 {
                return Ok(Some(body));
            }
        }
        Ok(None)
    }
}
