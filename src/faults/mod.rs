//! Fault injection: a per-process registry of faults that the blob endpoint and the guest
//! API consult before they answer, managed by the `/_sim/faults` admin routes. A fault
//! names where it applies (a scope, and for blobs an operation and names), what it does
//! (an error, a latency, a dropped connection, a held-back goal state), how often (a
//! probability) and for how long (a count of hits, a lifetime). Expiring every SAS token
//! that exists is a fault too, listed and removed like the others.
//!
//! Nothing here knows of HTTP: the blob endpoint and the guest API turn a fired
//! [`FaultAction`] into their own wire answers.

mod glob;

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use parking_lot::Mutex;

use crate::control::minting::SAS_START_BACKDATE;

/// Where a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultScope {
    /// Requests to the blob endpoint.
    Blob,
    /// Goal-state polls of the guest API.
    GoalState,
    /// The wire server's `POST /metadata/recsvc/snapshot/presnapshot`.
    Presnapshot,
    /// The wire server's `POST /metadata/recsvc/snapshot/dosnapshot`.
    Dosnapshot,
    /// SAS tokens checked by the blob endpoint; made only by [`Faults::expire_sas`].
    Sas,
}

impl FaultScope {
    /// The scopes a client may name when it adds a fault.
    const ADDABLE: [FaultScope; 4] = [
        FaultScope::Blob,
        FaultScope::GoalState,
        FaultScope::Presnapshot,
        FaultScope::Dosnapshot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultScope::Blob => "blob",
            FaultScope::GoalState => "goalState",
            FaultScope::Presnapshot => "presnapshot",
            FaultScope::Dosnapshot => "dosnapshot",
            FaultScope::Sas => "sas",
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidFault> {
        Self::ADDABLE
            .into_iter()
            .find(|scope| scope.name() == text)
            .ok_or_else(|| {
                InvalidFault::new(
                    "scope",
                    format!(
                        "'{text}' is not a scope: use blob, goalState, presnapshot or dosnapshot."
                    ),
                )
            })
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// What a fault does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer this status and error code instead of the real answer; without a message,
    /// the answer carries the service's standard message for the code.
    Error {
        status: u16,
        code: String,
        message: Option<String>,
    },
    /// Answer for real, this much later.
    Latency(Duration),
    /// Close the connection without a response, the request not applied (blob only).
    Reset,
    /// Answer goal-state polls as if the goal state had not changed (goalState only).
    Drop,
    /// Refuse every SAS token issued before `cutoff` (simulated time), as if it had
    /// expired then.
    ExpireSas { cutoff: DateTime<Utc> },
}

/// The longest latency a fault may add: longer than any client waits.
const MAX_LATENCY: Duration = Duration::from_secs(600);

impl FaultAction {
    /// An action from the fields of its JSON form (`type` and the fields that type takes).
    pub fn parse(
        kind: &str,
        status: Option<u16>,
        code: Option<String>,
        message: Option<String>,
        milliseconds: Option<u64>,
    ) -> Result<Self, InvalidFault> {
        let unused = |present: bool, field: &'static str| {
            if present {
                Err(InvalidFault::new(
                    field,
                    format!("an action of type '{kind}' takes no {field}."),
                ))
            } else {
                Ok(())
            }
        };
        match kind {
            "error" => {
                unused(milliseconds.is_some(), "action.milliseconds")?;
                let status = status.ok_or_else(|| {
                    InvalidFault::new("action.status", "an error action needs a status.")
                })?;
                if !(400..=599).contains(&status) {
                    return Err(InvalidFault::new(
                        "action.status",
                        format!("{status} is not an error status: use 400 to 599."),
                    ));
                }
                let code = code.ok_or_else(|| {
                    InvalidFault::new("action.code", "an error action needs a code.")
                })?;
                if code.is_empty()
                    || code.len() > 64
                    || !code.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return Err(InvalidFault::new(
                        "action.code",
                        "the code must be 1 to 64 letters and digits, such as ServerBusy.",
                    ));
                }
                if message.as_ref().is_some_and(|m| m.len() > 1024) {
                    return Err(InvalidFault::new(
                        "action.message",
                        "the message must be at most 1024 bytes.",
                    ));
                }
                Ok(FaultAction::Error {
                    status,
                    code,
                    message,
                })
            }
            "latency" => {
                unused(status.is_some(), "action.status")?;
                unused(code.is_some(), "action.code")?;
                unused(message.is_some(), "action.message")?;
                let milliseconds = milliseconds.ok_or_else(|| {
                    InvalidFault::new(
                        "action.milliseconds",
                        "a latency action needs milliseconds.",
                    )
                })?;
                let latency = Duration::from_millis(milliseconds);
                if latency.is_zero() || latency > MAX_LATENCY {
                    return Err(InvalidFault::new(
                        "action.milliseconds",
                        format!(
                            "the latency must be 1 to {} milliseconds.",
                            MAX_LATENCY.as_millis()
                        ),
                    ));
                }
                Ok(FaultAction::Latency(latency))
            }
            "reset" | "drop" => {
                unused(status.is_some(), "action.status")?;
                unused(code.is_some(), "action.code")?;
                unused(message.is_some(), "action.message")?;
                unused(milliseconds.is_some(), "action.milliseconds")?;
                Ok(if kind == "reset" {
                    FaultAction::Reset
                } else {
                    FaultAction::Drop
                })
            }
            other => Err(InvalidFault::new(
                "action.type",
                format!("'{other}' is not an action type: use error, latency, reset or drop."),
            )),
        }
    }

    /// The action's `type` in its JSON form.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::Error { .. } => "error",
            FaultAction::Latency(_) => "latency",
            FaultAction::Reset => "reset",
            FaultAction::Drop => "drop",
            FaultAction::ExpireSas { .. } => "expire",
        }
    }
}

/// The blob operations a fault can name: Azure Storage analytics-log operation names of
/// the operations the blob endpoint recognizes.
pub const BLOB_OPERATIONS: &[&str] = &[
    "ListContainers",
    "GetAccountInformation",
    "CreateContainer",
    "DeleteContainer",
    "GetContainerProperties",
    "GetContainerMetadata",
    "SetContainerMetadata",
    "GetContainerACL",
    "SetContainerACL",
    "ListBlobs",
    "PutBlob",
    "PutBlock",
    "PutBlockList",
    "GetBlockList",
    "PutPage",
    "ClearPage",
    "GetPageRegions",
    "SnapshotBlob",
    "SetBlobProperties",
    "SetBlobMetadata",
    "GetBlobMetadata",
    "GetBlob",
    "GetBlobProperties",
    "DeleteBlob",
    "LeaseBlob",
    "IncrementalCopyBlob",
];

/// Which blob requests a fault applies to: every part given must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlobMatch {
    pub operation: Option<&'static str>,
    pub account: Option<String>,
    pub container: Option<String>,
    /// A pattern of `*` and `?` (see `glob`).
    pub blob: Option<String>,
}

impl BlobMatch {
    pub fn parse(
        operation: Option<&str>,
        account: Option<String>,
        container: Option<String>,
        blob: Option<String>,
    ) -> Result<Self, InvalidFault> {
        let operation = operation
            .map(|name| {
                BLOB_OPERATIONS
                    .iter()
                    .copied()
                    .find(|known| *known == name)
                    .ok_or_else(|| {
                        InvalidFault::new(
                            "match.operation",
                            format!(
                                "'{name}' is not a blob operation: use one of {}.",
                                BLOB_OPERATIONS.join(", ")
                            ),
                        )
                    })
            })
            .transpose()?;
        Ok(Self {
            operation,
            account,
            container,
            blob,
        })
    }

    fn matches(&self, call: &BlobCall<'_>) -> bool {
        let names = |wanted: &Option<String>, actual: Option<&str>| {
            wanted.as_deref().is_none_or(|w| Some(w) == actual)
        };
        self.operation.is_none_or(|op| op == call.operation)
            && names(&self.account, Some(call.account))
            && names(&self.container, call.container)
            && self
                .blob
                .as_deref()
                .is_none_or(|pattern| call.blob.is_some_and(|b| glob::matches(pattern, b)))
    }
}

/// A blob request as faults see it.
#[derive(Debug, Clone, Copy)]
pub struct BlobCall<'a> {
    /// Its analytics-log name, one of [`BLOB_OPERATIONS`].
    pub operation: &'static str,
    pub account: &'a str,
    pub container: Option<&'a str>,
    pub blob: Option<&'a str>,
}

/// A fault to add, checked.
#[derive(Debug, Clone)]
pub struct NewFault {
    scope: FaultScope,
    blob_match: Option<BlobMatch>,
    action: FaultAction,
    probability: f64,
    count: Option<u32>,
    lifetime: Option<Duration>,
}

/// The longest a fault may be set to live: a year.
const MAX_LIFETIME_SECONDS: u64 = 365 * 24 * 3600;

impl NewFault {
    pub fn new(
        scope: FaultScope,
        blob_match: Option<BlobMatch>,
        action: FaultAction,
        probability: Option<f64>,
        count: Option<u64>,
        expires_in_seconds: Option<u64>,
    ) -> Result<Self, InvalidFault> {
        if blob_match.is_some() && scope != FaultScope::Blob {
            return Err(InvalidFault::new(
                "match",
                "only a blob fault takes a match.",
            ));
        }
        let allowed = match &action {
            FaultAction::Error { .. } | FaultAction::Latency(_) => true,
            FaultAction::Reset => scope == FaultScope::Blob,
            FaultAction::Drop => scope == FaultScope::GoalState,
            FaultAction::ExpireSas { .. } => false,
        };
        if !allowed {
            return Err(InvalidFault::new(
                "action.type",
                format!(
                    "a {} fault cannot {}: reset is for blob faults, drop for goalState faults.",
                    scope.name(),
                    action.kind()
                ),
            ));
        }
        let probability = probability.unwrap_or(1.0);
        if !(probability > 0.0 && probability <= 1.0) {
            return Err(InvalidFault::new(
                "probability",
                "the probability must be above 0 and at most 1.",
            ));
        }
        let count = count
            .map(|count| {
                u32::try_from(count)
                    .ok()
                    .filter(|c| *c >= 1)
                    .ok_or_else(|| InvalidFault::new("count", "the count must be 1 to 4294967295."))
            })
            .transpose()?;
        let lifetime = expires_in_seconds
            .map(|seconds| {
                if (1..=MAX_LIFETIME_SECONDS).contains(&seconds) {
                    Ok(Duration::from_secs(seconds))
                } else {
                    Err(InvalidFault::new(
                        "expiresInSeconds",
                        format!("the lifetime must be 1 to {MAX_LIFETIME_SECONDS} seconds."),
                    ))
                }
            })
            .transpose()?;
        Ok(Self {
            scope,
            blob_match,
            action,
            probability,
            count,
            lifetime,
        })
    }
}

/// A fault as registered.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub id: String,
    pub scope: FaultScope,
    pub blob_match: Option<BlobMatch>,
    pub action: FaultAction,
    pub probability: f64,
    /// The hits it was added for, if limited.
    pub count: Option<u32>,
    /// The lifetime it was added with, if limited.
    pub expires_in_seconds: Option<u64>,
    /// Times it fired.
    pub hits: u64,
    /// Hits left before it is removed, if limited.
    pub remaining: Option<u32>,
    /// Wall-clock time.
    pub created_at: DateTime<Utc>,
    /// Wall-clock time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A request for a fault that cannot be: the JSON field at fault and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidFault {
    pub field: &'static str,
    pub message: String,
}

impl InvalidFault {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A fault that fired: which one, and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub id: String,
    pub action: FaultAction,
}

struct Entry {
    fault: Fault,
    /// When it lapses, by the monotonic clock.
    deadline: Option<Instant>,
}

/// The registry. One per process, shared by the blob endpoint, the guest API and the
/// admin routes.
#[derive(Default)]
pub struct Faults {
    /// One bit per scope that has a fault registered, so that a request in a scope without
    /// faults costs one atomic load and never takes the lock. Kept in step with `entries`
    /// under its lock; a fault past its lifetime keeps its bit until the next look purges it.
    armed: AtomicU8,
    entries: Mutex<Vec<Entry>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// Registers a fault; it applies from now on.
    pub fn add(&self, new: NewFault) -> Fault {
        let created_at = Utc::now();
        let fault = Fault {
            id: uuid::Uuid::new_v4().to_string(),
            scope: new.scope,
            blob_match: new.blob_match,
            action: new.action,
            probability: new.probability,
            count: new.count,
            expires_in_seconds: new.lifetime.map(|l| l.as_secs()),
            hits: 0,
            remaining: new.count,
            created_at,
            expires_at: new
                .lifetime
                .and_then(|l| TimeDelta::from_std(l).ok())
                .map(|l| created_at + l),
        };
        let mut entries = self.entries.lock();
        entries.push(Entry {
            fault: fault.clone(),
            deadline: new.lifetime.map(|l| Instant::now() + l),
        });
        self.rearm(&entries);
        fault
    }

    /// Makes every SAS token issued until `now` (the service's simulated time) fail as if
    /// it had expired, replacing an earlier such fault. Answers the cutoff: `now` rounded
    /// up to a whole second, since a SAS carries its times in whole seconds. Tokens minted
    /// before the clock reaches the cutoff are refused too, so a caller that wants every
    /// later token to work waits until then (at most a second).
    pub fn expire_sas(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let floor = now.trunc_subsecs(0);
        let cutoff = if floor == now {
            now
        } else {
            floor + TimeDelta::seconds(1)
        };
        let fault = Fault {
            id: uuid::Uuid::new_v4().to_string(),
            scope: FaultScope::Sas,
            blob_match: None,
            action: FaultAction::ExpireSas { cutoff },
            probability: 1.0,
            count: None,
            expires_in_seconds: None,
            hits: 0,
            remaining: None,
            created_at: Utc::now(),
            expires_at: None,
        };
        let mut entries = self.entries.lock();
        entries.retain(|e| e.fault.scope != FaultScope::Sas);
        entries.push(Entry {
            fault,
            deadline: None,
        });
        self.rearm(&entries);
        cutoff
    }

    /// The faults in force, oldest first.
    pub fn list(&self) -> Vec<Fault> {
        let mut entries = self.entries.lock();
        self.purge(&mut entries);
        entries.iter().map(|e| e.fault.clone()).collect()
    }

    /// Removes one fault; false when no fault in force has that id.
    pub fn remove(&self, id: &str) -> bool {
        let mut entries = self.entries.lock();
        self.purge(&mut entries);
        let before = entries.len();
        entries.retain(|e| e.fault.id != id);
        self.rearm(&entries);
        entries.len() != before
    }

    pub fn clear(&self) {
        let mut entries = self.entries.lock();
        entries.clear();
        self.rearm(&entries);
    }

    /// Whether the fault `id` is still in force (not removed, used up or lapsed).
    pub fn is_active(&self, id: &str) -> bool {
        let mut entries = self.entries.lock();
        self.purge(&mut entries);
        entries.iter().any(|e| e.fault.id == id)
    }

    /// The action of the first blob fault that matches the call and fires, counting its
    /// hit. `call` describes the request; it is only asked when blob faults exist, so that
    /// without them a request costs one atomic load.
    pub fn blob<'a>(&self, call: impl FnOnce() -> BlobCall<'a>) -> Option<FaultAction> {
        if !self.armed(FaultScope::Blob) {
            return None;
        }
        let call = call();
        self.fire_first(FaultScope::Blob, |m| {
            m.as_ref().is_none_or(|m| m.matches(&call))
        })
        .map(|fired| fired.action)
    }

    /// The action of the first fault of `scope` that fires, counting its hit. For the
    /// guest API's routes: `api::guest::apply_fault` turns it into their answer.
    pub fn check(&self, scope: FaultScope) -> Option<FaultAction> {
        self.fire(scope).map(|fired| fired.action)
    }

    /// As [`Faults::check`], naming the fault that fired.
    pub fn fire(&self, scope: FaultScope) -> Option<Fired> {
        self.fire_first(scope, |_| true)
    }

    /// Whether a SAS token valid from `start` (its `st`, or its stored policy's) was issued
    /// before an expire-SAS fault; if so, the moment it counts as expired, and the fault
    /// counts a hit.
    ///
    /// A SAS records no issue time, only the start of its validity. The service mints its
    /// tokens with `st` = issue time − [`SAS_START_BACKDATE`] (slack for clocks that run
    /// behind), so a token was issued before the cutoff exactly when its `st` lies more
    /// than that before the cutoff; a token minted afterwards has a later `st` and works.
    /// A token without `st` is valid from whenever it was minted, which nothing in it
    /// tells, so it cannot be dated and is left alone: give tokens an `st` to have them
    /// covered.
    pub fn sas_expired(&self, start: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let start = start?;
        if !self.armed(FaultScope::Sas) {
            return None;
        }
        let mut entries = self.entries.lock();
        let entry = entries
            .iter_mut()
            .find(|e| e.fault.scope == FaultScope::Sas)?;
        let FaultAction::ExpireSas { cutoff } = entry.fault.action else {
            return None;
        };
        if start < cutoff - SAS_START_BACKDATE {
            entry.fault.hits += 1;
            Some(cutoff)
        } else {
            None
        }
    }

    fn fire_first(
        &self,
        scope: FaultScope,
        applies: impl Fn(&Option<BlobMatch>) -> bool,
    ) -> Option<Fired> {
        if !self.armed(scope) {
            return None;
        }
        let mut entries = self.entries.lock();
        self.purge(&mut entries);
        let index = entries.iter().position(|e| {
            e.fault.scope == scope
                && applies(&e.fault.blob_match)
                && (e.fault.probability >= 1.0 || rand::random::<f64>() < e.fault.probability)
        })?;
        let fault = &mut entries[index].fault;
        fault.hits += 1;
        let fired = Fired {
            id: fault.id.clone(),
            action: fault.action.clone(),
        };
        if let Some(remaining) = &mut fault.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                entries.remove(index);
                self.rearm(&entries);
            }
        }
        Some(fired)
    }

    /// Drops the faults past their lifetime.
    fn purge(&self, entries: &mut Vec<Entry>) {
        let now = Instant::now();
        let before = entries.len();
        entries.retain(|e| e.deadline.is_none_or(|deadline| deadline > now));
        if entries.len() != before {
            self.rearm(entries);
        }
    }

    fn armed(&self, scope: FaultScope) -> bool {
        self.armed.load(Ordering::Relaxed) & scope.bit() != 0
    }

    fn rearm(&self, entries: &[Entry]) {
        let bits = entries.iter().fold(0, |bits, e| bits | e.fault.scope.bit());
        self.armed.store(bits, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str) -> FaultAction {
        FaultAction::parse("error", Some(503), Some(code.to_owned()), None, None).unwrap()
    }

    fn blob_fault(blob: &str, count: Option<u64>) -> NewFault {
        let m = BlobMatch::parse(Some("SnapshotBlob"), None, None, Some(blob.to_owned())).unwrap();
        NewFault::new(
            FaultScope::Blob,
            Some(m),
            error("ServerBusy"),
            None,
            count,
            None,
        )
        .unwrap()
    }

    fn snapshot_of(blob: &str) -> BlobCall<'_> {
        BlobCall {
            operation: "SnapshotBlob",
            account: "devstoreaccount1",
            container: Some("vhds"),
            blob: Some(blob),
        }
    }

    #[test]
    fn blob_faults_match_operation_and_pattern() {
        let faults = Faults::default();
        faults.add(blob_fault("vm1-*", None));
        assert_eq!(
            faults.blob(|| snapshot_of("vm1-os.vhd")),
            Some(error("ServerBusy"))
        );
        assert_eq!(faults.blob(|| snapshot_of("vm2-os.vhd")), None);
        let put = BlobCall {
            operation: "PutPage",
            ..snapshot_of("vm1-os.vhd")
        };
        assert_eq!(faults.blob(|| put), None);
        assert_eq!(faults.list()[0].hits, 1);
    }

    #[test]
    fn a_counted_fault_goes_after_its_hits() {
        let faults = Faults::default();
        let added = faults.add(blob_fault("*", Some(2)));
        assert_eq!(added.remaining, Some(2));
        assert!(faults.blob(|| snapshot_of("a")).is_some());
        assert_eq!(faults.list()[0].remaining, Some(1));
        assert!(faults.blob(|| snapshot_of("a")).is_some());
        assert!(faults.blob(|| snapshot_of("a")).is_none());
        assert!(faults.list().is_empty());
        assert_eq!(faults.armed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_lapsed_fault_is_gone() {
        let faults = Faults::default();
        let mut new = blob_fault("*", None);
        new.lifetime = Some(Duration::from_millis(1));
        faults.add(new);
        std::thread::sleep(Duration::from_millis(5));
        assert!(faults.blob(|| snapshot_of("a")).is_none());
        assert!(faults.list().is_empty());
    }

    #[test]
    fn remove_and_clear() {
        let faults = Faults::default();
        let one = faults.add(blob_fault("*", None));
        faults.add(blob_fault("*", None));
        assert!(faults.remove(&one.id));
        assert!(!faults.remove(&one.id));
        assert_eq!(faults.list().len(), 1);
        faults.clear();
        assert!(faults.list().is_empty());
        assert_eq!(faults.armed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn scopes_are_separate() {
        let faults = Faults::default();
        let drop = FaultAction::parse("drop", None, None, None, None).unwrap();
        faults.add(
            NewFault::new(FaultScope::GoalState, None, drop.clone(), None, None, None).unwrap(),
        );
        assert_eq!(faults.check(FaultScope::Presnapshot), None);
        assert!(faults.blob(|| snapshot_of("a")).is_none());
        assert_eq!(faults.check(FaultScope::GoalState), Some(drop));
    }

    #[test]
    fn sas_tokens_issued_before_the_cutoff_expire() {
        let faults = Faults::default();
        let now = Utc::now();
        assert_eq!(faults.sas_expired(Some(now - TimeDelta::hours(1))), None);
        let cutoff = faults.expire_sas(now);
        assert!(cutoff >= now && cutoff - now < TimeDelta::seconds(1));
        assert_eq!(cutoff.trunc_subsecs(0), cutoff);
        // Minted just before the cutoff, with the service's backdated start.
        let before = cutoff - TimeDelta::seconds(1) - SAS_START_BACKDATE;
        assert_eq!(faults.sas_expired(Some(before)), Some(cutoff));
        // Minted at or after it.
        assert_eq!(faults.sas_expired(Some(cutoff - SAS_START_BACKDATE)), None);
        // Undatable.
        assert_eq!(faults.sas_expired(None), None);
        let listed = faults.list();
        assert_eq!(listed[0].scope, FaultScope::Sas);
        assert_eq!(listed[0].hits, 1);
        // A second call replaces the first.
        faults.expire_sas(cutoff + TimeDelta::hours(1));
        assert_eq!(faults.list().len(), 1);
    }

    #[test]
    fn bad_faults_name_their_field() {
        let field = |r: Result<NewFault, InvalidFault>| r.unwrap_err().field;
        let reset = FaultAction::parse("reset", None, None, None, None).unwrap();
        let drop = FaultAction::parse("drop", None, None, None, None).unwrap();
        assert_eq!(
            field(NewFault::new(
                FaultScope::GoalState,
                None,
                reset,
                None,
                None,
                None
            )),
            "action.type"
        );
        assert_eq!(
            field(NewFault::new(
                FaultScope::Blob,
                None,
                drop,
                None,
                None,
                None
            )),
            "action.type"
        );
        let busy = error("ServerBusy");
        assert_eq!(
            field(NewFault::new(
                FaultScope::Presnapshot,
                Some(BlobMatch::default()),
                busy.clone(),
                None,
                None,
                None
            )),
            "match"
        );
        for p in [0.0, 1.5, -1.0, f64::NAN] {
            assert_eq!(
                field(NewFault::new(
                    FaultScope::Blob,
                    None,
                    busy.clone(),
                    Some(p),
                    None,
                    None
                )),
                "probability"
            );
        }
        assert_eq!(
            field(NewFault::new(
                FaultScope::Blob,
                None,
                busy.clone(),
                None,
                Some(0),
                None
            )),
            "count"
        );
        assert_eq!(
            field(NewFault::new(
                FaultScope::Blob,
                None,
                busy,
                None,
                None,
                Some(0)
            )),
            "expiresInSeconds"
        );
        assert_eq!(FaultScope::parse("sas").unwrap_err().field, "scope");
        assert_eq!(
            BlobMatch::parse(Some("CopyBlob"), None, None, None)
                .unwrap_err()
                .field,
            "match.operation"
        );
        let action = |kind, status, code: Option<&str>, ms| {
            FaultAction::parse(kind, status, code.map(str::to_owned), None, ms)
                .unwrap_err()
                .field
        };
        assert_eq!(
            action("error", Some(200), Some("Ok"), None),
            "action.status"
        );
        assert_eq!(action("error", None, Some("Busy"), None), "action.status");
        assert_eq!(action("error", Some(503), None, None), "action.code");
        assert_eq!(
            action("error", Some(503), Some("Server Busy"), None),
            "action.code"
        );
        assert_eq!(
            action("latency", None, None, Some(0)),
            "action.milliseconds"
        );
        assert_eq!(
            action("latency", Some(503), None, Some(10)),
            "action.status"
        );
        assert_eq!(action("explode", None, None, None), "action.type");
    }
}
