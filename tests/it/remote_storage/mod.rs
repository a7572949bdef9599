//! `RemoteStorage`, the storage seam over Blob REST, against real accounts: vaultsim's own
//! blob endpoint (real page-range diffs) and Azurite (none). Each check runs on both.

pub mod azurite;
mod scenario;

use std::sync::Arc;

use bytes::Bytes;
use secrecy::ExposeSecret;
use vaultsim::blob::engine::{BlobStore, StoreOptions};
use vaultsim::clock::Clock;
use vaultsim::config::DEV_ACCOUNT_KEY;
use vaultsim::storage::{
    AccountAccess, BlobPath, BlobStorage, ByteRange, ConnectionString, DiffSpan, EmbeddedStorage,
    PageDiff, PageSpan, RemoteStorage, StorageError, Timestamp,
};

use crate::helpers::{TestApp, ACCOUNT};
use azurite::Azurite;

/// A storage account reached through `RemoteStorage`, and the server behind it.
struct Account {
    storage: RemoteStorage,
    server: ServerKind,
    /// The account's blob endpoint, for clients with other keys.
    endpoint: String,
    /// The server (a `TestApp` or an `Azurite`), running until the test ends.
    _server: Box<dyn std::any::Any>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    /// Real page-range diffs.
    Vaultsim,
    /// Answers `prevsnapshot` with the whole range list.
    Azurite,
}

/// The connection string of the development account at `endpoint`, with `key`.
fn connection_string_text(endpoint: &str, key: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={endpoint}"
    )
}

fn connection_string(endpoint: &str, key: &str) -> ConnectionString {
    ConnectionString::parse(&connection_string_text(endpoint, key))
        .expect("a valid connection string")
}

impl Account {
    async fn vaultsim() -> Self {
        let app = TestApp::spawn().await;
        let endpoint = format!("http://{}/{ACCOUNT}", app.client.addr);
        Self::on(endpoint, ServerKind::Vaultsim, Box::new(app))
    }

    fn azurite() -> Self {
        let azurite = Azurite::start();
        Self::on(
            azurite.blob_endpoint(),
            ServerKind::Azurite,
            Box::new(azurite),
        )
    }

    fn on(endpoint: String, kind: ServerKind, server: Box<dyn std::any::Any>) -> Self {
        let conn = connection_string(&endpoint, DEV_ACCOUNT_KEY);
        Self {
            storage: RemoteStorage::connect(&conn, None, None).expect("a client"),
            server: kind,
            endpoint,
            _server: server,
        }
    }
}

/// One test per server for each check: `check::on_vaultsim`, `check::on_azurite`.
macro_rules! on_each_server {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test]
            async fn on_vaultsim() {
                super::$check(super::Account::vaultsim().await).await
            }

            #[tokio::test]
            async fn on_azurite() {
                super::$check(super::Account::azurite()).await
            }
        }
    )*};
}

on_each_server!(
    answers_as_the_embedded_store_does,
    tells_a_real_diff_from_an_ignored_prevsnapshot,
    reads_a_blob_again_only_when_its_etag_changed,
    tells_the_time_of_the_account,
    keeps_the_status_and_code_of_refusals_it_does_not_name,
    refuses_a_wrong_key_clearly_and_never_shows_a_key,
);

/// The scenario's answers from the account equal the embedded store's, step by step; the
/// diffs too where the account has real ones, and `Unsupported` where it does not.
async fn answers_as_the_embedded_store_does(account: Account) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = BlobStore::open(dir.path(), Clock::default(), StoreOptions::default())
        .expect("an embedded store");
    let embedded = EmbeddedStorage::new(
        Arc::new(store),
        Clock::default(),
        account.storage.account().clone(),
    );
    let expected = scenario::run(&embedded).await;
    let answered = scenario::run(&account.storage).await;

    assert_eq!(answered.len(), expected.len());
    let mut diffs = 0;
    for ((step, answer), (_, reference)) in answered.iter().zip(&expected) {
        if step.starts_with(scenario::DIFF_STEP) && scenario::is_spans(reference) {
            diffs += 1;
            if account.server == ServerKind::Azurite {
                assert_eq!(*answer, scenario::unsupported(), "{step}");
                continue;
            }
        }
        assert_eq!(answer, reference, "{step}");
    }
    assert_eq!(diffs, 3, "the scenario's real diffs: {expected:#?}");
}

/// A real diff that lists every written page looks like an ignored `prevsnapshot`; it is
/// still reported as the diff it is. A failed first diff settles nothing about the account.
async fn tells_a_real_diff_from_an_ignored_prevsnapshot(account: Account) {
    let storage = &account.storage;
    let whole = ByteRange {
        start: 0,
        end: 8191,
    };
    assert!(storage.create_container("disks").await.unwrap());
    let gone = storage
        .page_ranges_since(BlobPath::base("disks", "none.vhd"), Timestamp(1), whole)
        .await;
    assert!(matches!(gone, Err(StorageError::BlobNotFound)), "{gone:?}");

    storage
        .create_page_blob("disks", "d.vhd", 8192, Vec::new(), false)
        .await
        .unwrap();
    let empty = storage.snapshot("disks", "d.vhd", None).await.unwrap();
    storage
        .write_pages("disks", "d.vhd", 1024, Bytes::from(vec![7u8; 2048]))
        .await
        .unwrap();
    let written = storage.snapshot("disks", "d.vhd", None).await.unwrap();
    let at = BlobPath {
        container: "disks",
        blob: "d.vhd",
        snapshot: Some(written),
    };
    let diff = storage.page_ranges_since(at, empty, whole).await.unwrap();
    let ranges = storage.page_ranges(at, whole).await.unwrap();
    assert_eq!(ranges, [PageSpan { first: 2, count: 4 }]);
    match account.server {
        ServerKind::Vaultsim => assert_eq!(
            diff,
            PageDiff::Spans(vec![DiffSpan::Written(PageSpan { first: 2, count: 4 })])
        ),
        ServerKind::Azurite => assert_eq!(diff, PageDiff::Unsupported),
    }
    let since_written = storage
        .page_ranges_since(BlobPath::base("disks", "d.vhd"), written, whole)
        .await
        .unwrap();
    match account.server {
        ServerKind::Vaultsim => assert_eq!(since_written, PageDiff::Spans(Vec::new())),
        ServerKind::Azurite => assert_eq!(since_written, PageDiff::Unsupported),
    }
}

async fn reads_a_blob_again_only_when_its_etag_changed(account: Account) {
    let storage = &account.storage;
    assert!(storage.create_container("status").await.unwrap());
    let at = BlobPath::base("status", "vm1/task.status");
    let first = Bytes::from_static(b"{\"status\":\"transitioning\",\"code\":0}");
    let etag = storage
        .put_block_blob("status", at.blob, first.clone())
        .await
        .unwrap();

    let read = storage.read_if_changed(at, None, 1024).await.unwrap();
    let read = read.expect("an unconditional read answers the content");
    assert_eq!((read.etag.as_str(), &read.content), (etag.as_str(), &first));
    assert_eq!(
        storage
            .read_if_changed(at, Some(&etag), 1024)
            .await
            .unwrap(),
        None,
        "not modified"
    );
    let cut = storage.read_if_changed(at, None, 9).await.unwrap().unwrap();
    assert_eq!(cut.content, first.slice(..10), "max_bytes + 1 bytes");

    let second = Bytes::from_static(b"{\"status\":\"success\"}");
    let new_etag = storage
        .put_block_blob("status", at.blob, second.clone())
        .await
        .unwrap();
    assert_ne!(new_etag, etag);
    let read = storage
        .read_if_changed(at, Some(&etag), 1024)
        .await
        .unwrap()
        .expect("changed since the known ETag");
    assert_eq!((read.etag, read.content), (new_etag, second));

    let empty_etag = storage
        .put_block_blob("status", at.blob, Bytes::new())
        .await
        .unwrap();
    let read = storage
        .read_if_changed(at, None, 1024)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.etag.as_str(), read.content.len()),
        (empty_etag.as_str(), 0)
    );
    assert_eq!(
        storage
            .read_if_changed(at, Some(&empty_etag), 1024)
            .await
            .unwrap(),
        None
    );

    let missing = storage
        .read_if_changed(BlobPath::base("status", "vm2/none"), None, 1024)
        .await;
    assert!(
        matches!(missing, Err(StorageError::BlobNotFound)),
        "{missing:?}"
    );
    let missing = storage
        .read_if_changed(BlobPath::base("nocontainer", "x"), Some(&etag), 1024)
        .await;
    assert!(
        matches!(missing, Err(StorageError::ContainerNotFound)),
        "{missing:?}"
    );
}

async fn tells_the_time_of_the_account(account: Account) {
    let before = chrono::Utc::now();
    let at = account.storage.account_time().await.unwrap();
    let after = chrono::Utc::now();
    // `Date` has whole seconds.
    let slack = chrono::Duration::seconds(2);
    assert!(
        before - slack <= at && at <= after + slack,
        "{before} {at} {after}"
    );
}

async fn keeps_the_status_and_code_of_refusals_it_does_not_name(account: Account) {
    let storage = &account.storage;
    assert!(storage.create_container("disks").await.unwrap());
    storage
        .create_page_blob("disks", "d.vhd", 4096, Vec::new(), false)
        .await
        .unwrap();
    let misaligned = storage
        .write_pages("disks", "d.vhd", 100, Bytes::from(vec![1u8; 512]))
        .await
        .unwrap_err();
    // Azurite's code for it is the status text.
    let expected = match account.server {
        ServerKind::Vaultsim => "InvalidPageRange",
        ServerKind::Azurite => "Requested Range Not Satisfiable",
    };
    match &misaligned {
        StorageError::Remote {
            status: 416,
            code,
            message,
        } => {
            assert_eq!(code, expected);
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
            assert_eq!(
                misaligned.to_string(),
                format!("the storage account answered 416 {expected}: {message}")
            );
        }
        other => panic!("{other:?}"),
    }
}

async fn refuses_a_wrong_key_clearly_and_never_shows_a_key(account: Account) {
    use base64::Engine as _;
    let wrong_key =
        base64::engine::general_purpose::STANDARD.encode(b"a key that is not the account's key");
    let conn = connection_string(&account.endpoint, &wrong_key);
    let wrong = RemoteStorage::connect(&conn, None, None).unwrap();
    // Azure says AuthenticationFailed; Azurite, when no way of authenticating passes, this.
    let refused_as = match account.server {
        ServerKind::Vaultsim => "AuthenticationFailed",
        ServerKind::Azurite => "AuthorizationFailure",
    };

    let errors = [
        wrong.create_container("disks").await.map(|_| ()),
        wrong
            .properties(BlobPath::base("disks", "d.vhd"))
            .await
            .map(|_| ()),
        wrong.list_snapshots("disks", "d.vhd").await.map(|_| ()),
    ];
    for error in errors {
        let error = error.expect_err("refused");
        match &error {
            StorageError::Remote {
                status: 403, code, ..
            } => assert_eq!(code, refused_as),
            other => panic!("{other:?}"),
        }
        assert_shows_no_key(&error.to_string());
        assert_shows_no_key(&format!("{error:?}"));
    }
    for storage in [&wrong, &account.storage] {
        assert_shows_no_key(&format!("{storage:?}"));
        assert_shows_no_key(&format!("{:?}", storage.account()));
    }
    assert_shows_no_key(&format!("{conn:?}"));

    fn assert_shows_no_key(shown: &str) {
        let wrong_key = b"a key that is not the account's key";
        let dev_key = base64::engine::general_purpose::STANDARD
            .decode(DEV_ACCOUNT_KEY)
            .unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(wrong_key);
        for secret in [DEV_ACCOUNT_KEY, &encoded[..20], "a key that is not"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        for key in [&wrong_key[..], &dev_key] {
            let as_numbers = format!("{:?}", &key[..4]);
            assert!(
                !shown.contains(&as_numbers[1..as_numbers.len() - 1]),
                "{shown}"
            );
        }
    }
}

/// A vaultsim blob node's HTTPS listener is trusted through the CA file it generated,
/// and not without it; the account the VMs are given names the endpoint they reach.
#[tokio::test]
async fn remote_storage_reaches_a_blob_node_over_https_with_its_ca() {
    let app = TestApp::spawn().await;
    let endpoint = format!("https://127.0.0.1:{}/{ACCOUNT}", app.blob_https_addr.port());
    let conn = connection_string(&endpoint, DEV_ACCOUNT_KEY);

    let vm_endpoint = "https://10.0.0.4:10443/devstoreaccount1/";
    let trusting =
        RemoteStorage::connect(&conn, Some(vm_endpoint.to_owned()), Some(&app.ca_file)).unwrap();
    assert!(trusting.create_container("disks").await.unwrap());
    let AccountAccess {
        name,
        endpoint: for_vms,
        key,
    } = trusting.account().clone();
    assert_eq!(name, ACCOUNT);
    assert_eq!(for_vms, "https://10.0.0.4:10443/devstoreaccount1");
    assert_eq!(key.expose_secret(), conn.key().expose_secret());

    let untrusting = RemoteStorage::connect(&conn, None, None).unwrap();
    assert_eq!(untrusting.account().endpoint, endpoint);
    let refused = untrusting.create_container("other").await;
    assert!(
        matches!(refused, Err(StorageError::Transport(_))),
        "{refused:?}"
    );

    let missing = app.ca_file.with_file_name("none.pem");
    let error = RemoteStorage::connect(&conn, None, Some(&missing)).unwrap_err();
    assert!(error.to_string().contains("none.pem"), "{error}");
}
