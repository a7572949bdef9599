//! Simulated VSS application writers: stand-ins for SQL Server, Exchange and the like, each
//! described by how long its phases take and where it fails, so a test or a `--writers`
//! file can put a backup through every VSS outcome.
//!
//! The requester gathers their status (all must be stable), sends PrepareForBackup, then
//! Freeze (the application stops writing) before the file-system freeze, and Thaw after the
//! file-system thaw. Writers of one phase run concurrently. A writer that failed takes no
//! further part; one that was frozen longer than the freeze window (VSS: 60 s from Freeze to
//! Thaw) times out, as `CVssWriter` does, and gets no Thaw.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use tokio::task::JoinSet;
use tokio::time::Instant;
use vaultsim_protocol::extension::codes::{
    VSS_WRITER_FREEZE_FAILED, VSS_WRITER_IN_BAD_STATE, VSS_WRITER_PREPARE_FAILED,
    VSS_WRITER_THAW_FAILED, VSS_WRITER_TIMEOUT,
};

use super::log::ExtensionLog;

/// VSS's limit from Freeze to Thaw (`CVssWriter::OnFreeze`).
pub const VSS_FREEZE_WINDOW: Duration = Duration::from_secs(60);

/// The writer events a simulated writer can fail in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WriterPhase {
    /// PrepareForBackup, before the freeze.
    Prepare,
    /// The application freeze, before the file-system freeze.
    Freeze,
    /// After the file-system thaw.
    Thaw,
}

/// One simulated writer, as a `--writers` JSON file lists it:
/// `{"name": "SqlServerWriter", "prepareMs": 200, "freezeMs": 500, "thawMs": 100,
///   "failIn": "freeze", "badState": false}` (all but `name` optional).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WriterSpec {
    pub name: String,
    #[serde(rename = "prepareMs", default, deserialize_with = "milliseconds")]
    pub prepare: Duration,
    #[serde(rename = "freezeMs", default, deserialize_with = "milliseconds")]
    pub freeze: Duration,
    #[serde(rename = "thawMs", default, deserialize_with = "milliseconds")]
    pub thaw: Duration,
    /// The phase the writer fails in, after taking its time.
    #[serde(default)]
    pub fail_in: Option<WriterPhase>,
    /// Not stable when the backup starts: the run fails before anything else happens.
    #[serde(default)]
    pub bad_state: bool,
}

impl WriterSpec {
    fn duration_of(&self, phase: WriterPhase) -> Duration {
        match phase {
            WriterPhase::Prepare => self.prepare,
            WriterPhase::Freeze => self.freeze,
            WriterPhase::Thaw => self.thaw,
        }
    }
}

fn milliseconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

/// What went wrong with a writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterFault {
    BadState,
    Failed(WriterPhase),
    TimedOut { window: Duration },
}

/// A writer's failure, with the vaultsim code it reports.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(writer, fault))]
pub struct WriterFailure {
    pub writer: String,
    pub fault: WriterFault,
}

fn describe(writer: &str, fault: &WriterFault) -> String {
    match fault {
        WriterFault::BadState => format!("VSS writer {writer} is not in a stable state"),
        WriterFault::Failed(WriterPhase::Prepare) => {
            format!("VSS writer {writer} failed PrepareForBackup")
        }
        WriterFault::Failed(WriterPhase::Freeze) => format!("VSS writer {writer} failed to freeze"),
        WriterFault::Failed(WriterPhase::Thaw) => format!("VSS writer {writer} failed to thaw"),
        WriterFault::TimedOut { window } => format!(
            "VSS writer {writer} timed out: it was not thawed within {} ms of its freeze",
            window.as_millis()
        ),
    }
}

impl WriterFailure {
    pub fn code(&self) -> u32 {
        match self.fault {
            WriterFault::BadState => VSS_WRITER_IN_BAD_STATE,
            WriterFault::Failed(WriterPhase::Prepare) => VSS_WRITER_PREPARE_FAILED,
            WriterFault::Failed(WriterPhase::Freeze) => VSS_WRITER_FREEZE_FAILED,
            WriterFault::Failed(WriterPhase::Thaw) => VSS_WRITER_THAW_FAILED,
            WriterFault::TimedOut { .. } => VSS_WRITER_TIMEOUT,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriterState {
    Stable,
    Prepared,
    Frozen,
    Thawed,
    Failed,
}

/// The writers of one backup, through their phases.
#[derive(Debug)]
pub struct WriterSession {
    writers: Vec<(WriterSpec, WriterState)>,
    window: Duration,
    freeze_sent: Option<Instant>,
}

impl WriterSession {
    /// Gathers the writers' status: the first writer that is not stable fails the backup.
    pub fn gather(writers: &[WriterSpec], window: Duration) -> Result<Self, WriterFailure> {
        if let Some(bad) = writers.iter().find(|writer| writer.bad_state) {
            return Err(WriterFailure {
                writer: bad.name.clone(),
                fault: WriterFault::BadState,
            });
        }
        Ok(Self {
            writers: writers
                .iter()
                .map(|writer| (writer.clone(), WriterState::Stable))
                .collect(),
            window,
            freeze_sent: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.writers.is_empty()
    }

    /// PrepareForBackup to every writer.
    pub async fn prepare(&mut self, log: &ExtensionLog) -> Vec<WriterFailure> {
        self.run_phase(
            log,
            WriterPhase::Prepare,
            WriterState::Stable,
            WriterState::Prepared,
            None,
        )
        .await
    }

    /// Freeze to every prepared writer; the freeze window starts now, and a writer still
    /// freezing when it closes times out.
    pub async fn freeze(&mut self, log: &ExtensionLog) -> Vec<WriterFailure> {
        let sent = Instant::now();
        self.freeze_sent = Some(sent);
        let deadline = sent + self.window;
        self.run_phase(
            log,
            WriterPhase::Freeze,
            WriterState::Prepared,
            WriterState::Frozen,
            Some(deadline),
        )
        .await
    }

    /// Thaw to every frozen writer. If the window closed first, each of them timed out
    /// instead.
    pub async fn thaw(&mut self, log: &ExtensionLog) -> Vec<WriterFailure> {
        let window_closed = self
            .freeze_sent
            .is_some_and(|sent| sent.elapsed() > self.window);
        if window_closed {
            let window = self.window;
            let mut failures = Vec::new();
            for (writer, state) in &mut self.writers {
                if *state == WriterState::Frozen {
                    *state = WriterState::Failed;
                    failures.push(WriterFailure {
                        writer: writer.name.clone(),
                        fault: WriterFault::TimedOut { window },
                    });
                }
            }
            for failure in &failures {
                log.error(format!("{failure} ({})", failure.code()));
            }
            return failures;
        }
        self.run_phase(
            log,
            WriterPhase::Thaw,
            WriterState::Frozen,
            WriterState::Thawed,
            None,
        )
        .await
    }

    /// Sends `phase` to the writers in state `from`, concurrently. Failures are in writer
    /// order.
    async fn run_phase(
        &mut self,
        log: &ExtensionLog,
        phase: WriterPhase,
        from: WriterState,
        to: WriterState,
        deadline: Option<Instant>,
    ) -> Vec<WriterFailure> {
        let mut events = JoinSet::new();
        for (index, (writer, state)) in self.writers.iter().enumerate() {
            if *state == from {
                let (duration, fails) = (writer.duration_of(phase), writer.fail_in == Some(phase));
                events.spawn(async move {
                    tokio::time::sleep(duration).await;
                    (index, !fails)
                });
            }
        }
        let mut succeeded = vec![None; self.writers.len()];
        loop {
            let next = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, events.join_next()).await
                {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => events.join_next().await,
            };
            match next {
                Some(Ok((index, ok))) => succeeded[index] = Some(ok),
                // A writer's task cannot panic; if it were cancelled, it simply failed.
                Some(Err(_)) => {}
                None => break,
            }
        }
        events.abort_all();
        let mut failures = Vec::new();
        for (index, (writer, state)) in self.writers.iter_mut().enumerate() {
            if *state != from {
                continue;
            }
            let fault = match succeeded[index] {
                Some(true) => {
                    *state = to;
                    log.info(format!("VSS writer {}: {phase:?} done", writer.name));
                    continue;
                }
                Some(false) => WriterFault::Failed(phase),
                None if deadline.is_some() => WriterFault::TimedOut {
                    window: self.window,
                },
                None => WriterFault::Failed(phase),
            };
            *state = WriterState::Failed;
            let failure = WriterFailure {
                writer: writer.name.clone(),
                fault,
            };
            log.error(format!("{failure} ({})", failure.code()));
            failures.push(failure);
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(name: &str) -> WriterSpec {
        WriterSpec {
            name: name.into(),
            prepare: Duration::ZERO,
            freeze: Duration::ZERO,
            thaw: Duration::ZERO,
            fail_in: None,
            bad_state: false,
        }
    }

    #[test]
    fn writers_load_from_camel_case_json_with_milliseconds() {
        let writers: Vec<WriterSpec> = serde_json::from_str(
            r#"[{"name": "SqlServerWriter", "prepareMs": 200, "freezeMs": 1500, "thawMs": 5,
                 "failIn": "freeze", "badState": true},
                {"name": "Registry"}]"#,
        )
        .unwrap();
        assert_eq!(
            writers[0],
            WriterSpec {
                name: "SqlServerWriter".into(),
                prepare: Duration::from_millis(200),
                freeze: Duration::from_millis(1500),
                thaw: Duration::from_millis(5),
                fail_in: Some(WriterPhase::Freeze),
                bad_state: true,
            }
        );
        assert_eq!(writers[1], writer("Registry"));
        for bad in [
            r#"[{"prepareMs": 1}]"#,
            r#"[{"name": "w", "prepare": 1}]"#,
            r#"[{"name": "w", "failIn": "commit"}]"#,
            r#"[{"name": "w", "thawMs": -1}]"#,
        ] {
            assert!(
                serde_json::from_str::<Vec<WriterSpec>>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn failure_codes() {
        let failure = |fault| WriterFailure {
            writer: "w".into(),
            fault,
        };
        let window = VSS_FREEZE_WINDOW;
        assert_eq!(failure(WriterFault::BadState).code(), 600);
        assert_eq!(
            failure(WriterFault::Failed(WriterPhase::Prepare)).code(),
            601
        );
        assert_eq!(
            failure(WriterFault::Failed(WriterPhase::Freeze)).code(),
            602
        );
        assert_eq!(failure(WriterFault::TimedOut { window }).code(), 603);
        assert_eq!(failure(WriterFault::Failed(WriterPhase::Thaw)).code(), 604);
        assert!(failure(WriterFault::BadState)
            .to_string()
            .contains("w is not in a stable state"));
    }

    #[test]
    fn the_first_writer_in_bad_state_fails_the_gathering() {
        let mut bad = writer("Exchange");
        bad.bad_state = true;
        let failure = WriterSession::gather(&[writer("Sql"), bad], VSS_FREEZE_WINDOW).unwrap_err();
        assert_eq!(failure.writer, "Exchange");
        assert_eq!(failure.fault, WriterFault::BadState);
        assert!(WriterSession::gather(&[writer("Sql")], VSS_FREEZE_WINDOW).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn writers_of_a_phase_run_concurrently_and_failed_ones_drop_out() {
        let log = ExtensionLog::new();
        let mut slow = writer("Slow");
        slow.prepare = Duration::from_secs(2);
        let mut failing = writer("Failing");
        failing.prepare = Duration::from_secs(2);
        failing.fail_in = Some(WriterPhase::Prepare);
        let mut session = WriterSession::gather(&[slow, failing], VSS_FREEZE_WINDOW).unwrap();
        let started = Instant::now();
        let failures = session.prepare(&log).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "concurrent, not 4 s"
        );
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].writer, "Failing");
        assert!(session.freeze(&log).await.is_empty());
        assert!(session.thaw(&log).await.is_empty());
        assert_eq!(session.writers[0].1, WriterState::Thawed);
        assert_eq!(session.writers[1].1, WriterState::Failed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_freezing_past_the_window_times_out_and_is_not_thawed() {
        let log = ExtensionLog::new();
        let mut slow = writer("Slow");
        slow.freeze = Duration::from_secs(90);
        slow.fail_in = Some(WriterPhase::Thaw);
        let window = Duration::from_secs(60);
        let mut session = WriterSession::gather(&[slow, writer("Quick")], window).unwrap();
        assert!(session.prepare(&log).await.is_empty());
        let started = Instant::now();
        let failures = session.freeze(&log).await;
        assert_eq!(started.elapsed(), window);
        assert_eq!(
            failures,
            [WriterFailure {
                writer: "Slow".into(),
                fault: WriterFault::TimedOut { window }
            }]
        );
        assert!(
            session.thaw(&log).await.is_empty(),
            "the timed-out writer gets no thaw"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_thaw_after_the_window_times_every_frozen_writer_out() {
        let log = ExtensionLog::new();
        let window = Duration::from_secs(60);
        let mut session = WriterSession::gather(&[writer("A"), writer("B")], window).unwrap();
        session.prepare(&log).await;
        assert!(session.freeze(&log).await.is_empty());
        tokio::time::sleep(Duration::from_secs(61)).await;
        let failures = session.thaw(&log).await;
        assert_eq!(failures.len(), 2);
        assert!(failures.iter().all(|failure| failure.code() == 603));
    }
}
