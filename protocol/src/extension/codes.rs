//! Extension result codes (`main/ExtensionErrorCodeHelper.py`, `main/common.py`), the VM
//! health colour each one reports, and the Azure Backup error a user sees for a failed task.

/// `code` of an application-consistent success.
pub const SUCCESS_APP_CONSISTENT: u32 = 0;
/// `code` of a file-system-consistent success (also crash-consistent, see the status module).
pub const SUCCESS: u32 = 1;
/// `code` of a generic failure (`error`); the thaw reports it when it found the freeze
/// broken, so the snapshot may not be consistent.
pub const ERROR: u32 = 2;
/// `code` of the transitioning status written before the snapshot (ExtensionTempTerminalState).
pub const TRANSITIONING: u32 = 4;
/// `code` for settings the extension cannot use: an unknown command, a missing `objectStr`.
pub const ERROR_PARAMETER: u32 = 11;
/// `code` when the protected settings cannot be decrypted with the VM's certificate.
pub const GUEST_AGENT_CERTIFICATE_NOT_FOUND: u32 = 16;
/// `code` when every disk snapshot failed (no network to storage, as the extension sees it).
pub const SNAPSHOT_FAILED_NO_NETWORK: u32 = 76;
/// `code` when a disk blob has too many snapshots.
pub const SNAPSHOT_LIMIT_REACHED: u32 = 85;
/// `code` when a freeze failed, or left a disk out.
pub const FS_FREEZE_FAILED: u32 = 121;
/// `code` when a freeze did not finish in time.
pub const FS_FREEZE_TIMEOUT: u32 = 122;
/// `code` when a mount to freeze could not be opened.
pub const UNABLE_TO_OPEN_MOUNT: u32 = 123;
/// `code` when storage throttled the snapshot calls.
pub const SNAPSHOT_RATE_EXCEEDED: u32 = 173;
/// `code` of a pre-script that failed.
pub const PRE_SCRIPT_FAILED: u32 = 300;
/// `code` of a post-script that failed.
pub const POST_SCRIPT_FAILED: u32 = 301;
/// `code` of a pre-script that is not there.
pub const PRE_SCRIPT_NOT_FOUND: u32 = 302;
/// `code` of a post-script that is not there.
pub const POST_SCRIPT_NOT_FOUND: u32 = 303;
/// `code` of a plugin host configuration (`VMSnapshotPluginHost.conf`) that does not parse.
pub const PLUGIN_HOST_CONFIG_PARSING: u32 = 304;
/// `code` of a script plugin configuration (`VMSnapshotScriptPluginConfig.json`) that does
/// not parse.
pub const PLUGIN_CONFIG_PARSING: u32 = 305;
/// `code` of a pre-script with the wrong owner or mode.
pub const PRE_SCRIPT_PERMISSION: u32 = 306;
/// `code` of a post-script with the wrong owner or mode.
pub const POST_SCRIPT_PERMISSION: u32 = 307;
/// `code` of a pre-script that ran past its timeout.
pub const PRE_SCRIPT_TIMEOUT: u32 = 308;
/// `code` of a post-script that ran past its timeout.
pub const POST_SCRIPT_TIMEOUT: u32 = 309;
/// `code` when the plugin host's pre phase ran past its timeout.
pub const PLUGIN_HOST_PRE_TIMEOUT: u32 = 310;
/// `code` when the plugin host's post phase ran past its timeout.
pub const PLUGIN_HOST_POST_TIMEOUT: u32 = 311;
/// `code` of a plugin host configuration with the wrong owner or mode.
pub const PLUGIN_HOST_CONFIG_PERMISSION: u32 = 314;
/// `code` when the script plugin configuration is not there.
pub const PLUGIN_CONFIG_NOT_FOUND: u32 = 316;
/// `code` of a script plugin configuration with the wrong owner or mode.
pub const PLUGIN_CONFIG_PERMISSION: u32 = 317;
/// `code` when the command is older than 140 minutes when the daemon starts.
pub const COMMAND_TOO_LATE: u32 = 402;
/// `code` when some disk snapshots failed and others succeeded (restricted network).
pub const SNAPSHOT_FAILED_RESTRICTED_NETWORK: u32 = 761;

// vaultsim's own codes for its simulated VSS application writers. The Windows extension
// reports VSS failures with codes Microsoft does not publish, and the Linux extension has
// none, so these sit in 600–604, a range neither extension uses.

/// vaultsim's: a writer was not stable when the backup started (`vssadmin list writers` would
/// not show `[1] Stable`); the run fails without a snapshot.
pub const VSS_WRITER_IN_BAD_STATE: u32 = 600;
/// vaultsim's: a writer failed PrepareForBackup; the snapshot is file-system consistent.
pub const VSS_WRITER_PREPARE_FAILED: u32 = 601;
/// vaultsim's: a writer failed its Freeze; the snapshot is file-system consistent.
pub const VSS_WRITER_FREEZE_FAILED: u32 = 602;
/// vaultsim's: the Thaw came later than the writers' freeze window (VSS: 60 s), so the
/// writer timed out (VSS_E_WRITERERROR_TIMEOUT); the snapshot is file-system consistent.
pub const VSS_WRITER_TIMEOUT: u32 = 603;
/// vaultsim's: a writer failed its Thaw, so the shadow copy may not hold its data
/// consistently; the snapshot is file-system consistent.
pub const VSS_WRITER_THAW_FAILED: u32 = 604;

/// `vmHealthInfo.vmHealthState`: green 0, yellow 128, red 256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    Green,
    Yellow,
    Red,
}

impl HealthState {
    /// The number the status blob carries.
    pub fn vm_health_state(self) -> u32 {
        match self {
            HealthState::Green => 0,
            HealthState::Yellow => 128,
            HealthState::Red => 256,
        }
    }
}

/// One code the extension can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionCode {
    pub code: u32,
    /// The enum name in the extension's source.
    pub name: &'static str,
    /// `None` for 556, which has no health entry: the real extension then throws while
    /// building the status and writes no final status at all.
    pub health: Option<HealthState>,
}

const fn entry(code: u32, name: &'static str, health: Option<HealthState>) -> ExtensionCode {
    ExtensionCode { code, name, health }
}

const G: Option<HealthState> = Some(HealthState::Green);
const Y: Option<HealthState> = Some(HealthState::Yellow);
const R: Option<HealthState> = Some(HealthState::Red);

/// Every code of the Linux extension. 13 and 14 are defined but never reported.
/// The names of 124, 402 and 500–512 are as the spec gives them; the others are the
/// source's enum names.
const EXTENSION_CODES: &[ExtensionCode] = &[
    entry(SUCCESS_APP_CONSISTENT, "success_appconsistent", G),
    entry(SUCCESS, "success", G),
    entry(ERROR, "error", G),
    entry(3, "SuccessAlreadyProcessedInput", G),
    entry(TRANSITIONING, "ExtensionTempTerminalState", G),
    entry(ERROR_PARAMETER, "error_parameter", Y),
    entry(12, "error_12", G),
    entry(15, "error_http_failure", R),
    entry(
        GUEST_AGENT_CERTIFICATE_NOT_FOUND,
        "FailedHandlerGuestAgentCertificateNotFound",
        Y,
    ),
    entry(17, "FailedInvalidDataDiskLunList", G),
    entry(
        SNAPSHOT_FAILED_NO_NETWORK,
        "FailedRetryableSnapshotFailedNoNetwork",
        R,
    ),
    entry(SNAPSHOT_LIMIT_REACHED, "FailedSnapshotLimitReached", R),
    entry(FS_FREEZE_FAILED, "FailedRetryableFsFreezeFailed", Y),
    entry(FS_FREEZE_TIMEOUT, "FailedRetryableFsFreezeTimeout", Y),
    entry(UNABLE_TO_OPEN_MOUNT, "FailedRetryableUnableToOpenMount", Y),
    entry(124, "SafeFreezeBinaryNotFound", Y),
    entry(
        SNAPSHOT_RATE_EXCEEDED,
        "FailedRetryableSnapshotRateExceeded",
        G,
    ),
    entry(PRE_SCRIPT_FAILED, "FailedPrepostPreScriptFailed", Y),
    entry(POST_SCRIPT_FAILED, "FailedPrepostPostScriptFailed", Y),
    entry(PRE_SCRIPT_NOT_FOUND, "FailedPrepostPreScriptNotFound", Y),
    entry(POST_SCRIPT_NOT_FOUND, "FailedPrepostPostScriptNotFound", Y),
    entry(
        PLUGIN_HOST_CONFIG_PARSING,
        "FailedPrepostPluginhostConfigParsing",
        Y,
    ),
    entry(PLUGIN_CONFIG_PARSING, "FailedPrepostPluginConfigParsing", Y),
    entry(
        PRE_SCRIPT_PERMISSION,
        "FailedPrepostPreScriptPermissionError",
        Y,
    ),
    entry(
        POST_SCRIPT_PERMISSION,
        "FailedPrepostPostScriptPermissionError",
        Y,
    ),
    entry(PRE_SCRIPT_TIMEOUT, "FailedPrepostPreScriptTimeout", Y),
    entry(POST_SCRIPT_TIMEOUT, "FailedPrepostPostScriptTimeout", Y),
    entry(
        PLUGIN_HOST_PRE_TIMEOUT,
        "FailedPrepostPluginhostPreTimeout",
        Y,
    ),
    entry(
        PLUGIN_HOST_POST_TIMEOUT,
        "FailedPrepostPluginhostPostTimeout",
        Y,
    ),
    entry(312, "FailedPrepostCheckSumMismatch", Y),
    entry(313, "FailedPrepostPluginhostConfigNotFound", Y),
    entry(
        PLUGIN_HOST_CONFIG_PERMISSION,
        "FailedPrepostPluginhostConfigPermissionError",
        Y,
    ),
    entry(315, "FailedPrepostPluginhostConfigOwnershipError", Y),
    entry(
        PLUGIN_CONFIG_NOT_FOUND,
        "FailedPrepostPluginConfigNotFound",
        Y,
    ),
    entry(
        PLUGIN_CONFIG_PERMISSION,
        "FailedPrepostPluginConfigPermissionError",
        Y,
    ),
    entry(318, "FailedPrepostPluginConfigOwnershipError", Y),
    entry(COMMAND_TOO_LATE, "FailedGuestAgentInvokedCommandTooLate", R),
    entry(500, "PreError", Y),
    entry(501, "ConfParsingError", Y),
    entry(502, "InvalidRole", Y),
    entry(503, "InvalidWorkloadName", Y),
    entry(504, "PostError", Y),
    entry(505, "AuthorizationMissing", Y),
    entry(506, "ConnectionError", Y),
    entry(507, "IPCDirectoryMissing", Y),
    entry(508, "DatabaseStatusChanged", Y),
    entry(509, "QuiescingError", Y),
    entry(510, "QuiescingTimeout", Y),
    entry(511, "DatabaseInNoArchiveLog", Y),
    entry(512, "LogModeChanged", Y),
    entry(556, "FailedHostSnapshotRemoteServerError", None),
    // vaultsim's own (see VSS_WRITER_IN_BAD_STATE): yellow like the other in-guest
    // quiesce failures (freeze 121–124, scripts 300–318).
    entry(VSS_WRITER_IN_BAD_STATE, "VaultsimVssWriterInBadState", Y),
    entry(
        VSS_WRITER_PREPARE_FAILED,
        "VaultsimVssWriterPrepareFailed",
        Y,
    ),
    entry(VSS_WRITER_FREEZE_FAILED, "VaultsimVssWriterFreezeFailed", Y),
    entry(VSS_WRITER_TIMEOUT, "VaultsimVssWriterTimeout", Y),
    entry(VSS_WRITER_THAW_FAILED, "VaultsimVssWriterThawFailed", Y),
    entry(
        SNAPSHOT_FAILED_RESTRICTED_NETWORK,
        "FailedRetryableSnapshotFailedRestrictedNetwork",
        R,
    ),
];

/// The code's name and health colour; `None` for a code the extension never reports.
pub fn extension_code(code: u32) -> Option<ExtensionCode> {
    EXTENSION_CODES
        .iter()
        .copied()
        .find(|known| known.code == code)
}

/// A user-facing Azure Backup error: the `errorCode`, message and recommendations a job's
/// error details show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AzureBackupError {
    pub code: &'static str,
    pub message: &'static str,
    pub recommendations: &'static [&'static str],
}

impl AzureBackupError {
    /// The numeric `errorCode` Azure pairs with the error's code, where a source gives one
    /// (spec/domain.md §2.9); 0 elsewhere.
    pub fn numeric_code(&self) -> i64 {
        match self.code {
            "AzureVmOffline" => 380_008,
            "ResourceNotFound" => 320_001,
            "BCMV2VMNotFound" => 400_094,
            _ => 0,
        }
    }
}

/// No status reached the service by the task's deadline.
pub const GUEST_AGENT_STATUS_UNAVAILABLE: AzureBackupError = AzureBackupError {
    code: "UserErrorGuestAgentStatusUnavailable",
    message: "VM Agent unable to communicate with Azure Backup",
    recommendations: &[
        "Ensure the VM is running and the VM Agent reports Ready.",
        "Restart or reinstall the VM Agent.",
        "Ensure the VM's extensions report provisioning succeeded.",
    ],
};

/// The status the service collected is unusable: not a valid status document, for another
/// task, or naming snapshots that do not exist.
pub const SNAPSHOT_TASK_STATUS_ERROR: AzureBackupError = AzureBackupError {
    code: "GuestAgentSnapshotTaskStatusError",
    message: "Could not communicate with the VM agent for snapshot status",
    recommendations: &[
        "Ensure the VM Agent is running and up to date.",
        "On Linux, ensure Extensions.Enable=y in /etc/waagent.conf.",
    ],
};

/// The VM has no registered guest agent, so no task can reach it. Azure's nearest error is
/// 380008 AzureVmOffline ("install the VM agent").
pub const VM_AGENT_NOT_REGISTERED: AzureBackupError = AzureBackupError {
    code: "AzureVmOffline",
    message: "Virtual machine is offline or the VM Agent is not installed",
    recommendations: &["Install the VM Agent and ensure it reports Ready, then retry."],
};

/// The protected VM no longer exists (deleted behind the backup's back); Azure answers
/// 400094 BCMV2VMNotFound.
pub const VM_NOT_FOUND: AzureBackupError = AzureBackupError {
    code: "BCMV2VMNotFound",
    message: "The virtual machine does not exist",
    recommendations: &[
        "Stop protection of the deleted VM, or restore the VM from a recovery point.",
    ],
};

/// The item's previous backup is still running: a scheduled run fails with this, and an
/// on-demand backup is refused with it.
pub const BACKUP_IN_PROGRESS: AzureBackupError = AzureBackupError {
    code: "UserErrorBackupOperationInProgress",
    message: "Another backup operation is in progress on this item",
    recommendations: &[
        "Wait for the running backup to finish, or cancel it.",
        "Review the backup schedule so that backups do not overlap.",
    ],
};

pub const INTERNAL_ERROR: AzureBackupError = AzureBackupError {
    code: "BackUpOperationFailedV2",
    message: "Backup failed with an internal error. Please retry the operation in a few minutes.",
    recommendations: &[
        "Check that the VM Agent and the VMSnapshot extension are healthy.",
        "Remove any lock on the restore point collection's resource group.",
    ],
};

const NO_NETWORK: AzureBackupError = AzureBackupError {
    code: "ExtensionSnapshotFailedNoNetwork",
    message: "Snapshot operation failed due to no network connectivity on the virtual machine",
    recommendations: &[
        "Allow the VM to reach the storage endpoints (service tag or proxy).",
        "Allow port 8443 for managed disks.",
    ],
};

const SNAPSHOT_LIMIT: AzureBackupError = AzureBackupError {
    code: "ExtensionFailedSnapshotLimitReachedError",
    message:
        "Snapshot operation failed as snapshot limit is exceeded for some of the disks attached",
    recommendations: &["Delete the disk blob snapshots that are not required."],
};

const FREEZE_FAILED: AzureBackupError = AzureBackupError {
    code: "UserErrorFsFreezeFailed",
    message: "Failed to freeze one or more mount-points of the VM to take a file-system consistent snapshot",
    recommendations: &[
        "Unmount devices whose file-system state was not cleaned, and run fsck.",
        "Skip mounts with MountsToSkip in /etc/azure/vmbackup.conf.",
        "Raise SafeFreezeWaitInSeconds to 600 in /etc/azure/vmbackup.conf.",
    ],
};

const EXTENSION_FAILED: AzureBackupError = AzureBackupError {
    code: "ExtensionOperationFailedForManagedDisks",
    message: "VMSnapshot extension operation failed",
    recommendations: &["Uninstall the VMSnapshot extension to force a reload, then retry."],
};

/// The extension could not read its settings; the service also answers it for settings it
/// could not encrypt to the VM's certificate.
pub const CONFIG_PARSING: AzureBackupError = AzureBackupError {
    code: "ExtensionConfigParsingFailure",
    message: "Failure in parsing the config for the backup extension",
    recommendations: &["Check the VM's certificates and the extension's settings, then retry."],
};

const VM_REPORTED: AzureBackupError = AzureBackupError {
    code: "UserErrorCrpReportedUserError",
    message: "An error was reported by the IaaS VM",
    recommendations: &["See the job's error details and the extension log."],
};

/// Every vaultsim writer failure leaves the writer failed (a timed-out writer shows
/// `VSS_WS_FAILED_AT_FREEZE` with VSS_E_WRITERERROR_TIMEOUT), which is what Azure's
/// "writers in a bad state" error describes.
const VSS_WRITER_BAD_STATE: AzureBackupError = AzureBackupError {
    code: "ExtensionFailedVssWriterInBadState",
    message: "Snapshot operation failed because VSS writers were in a bad state",
    recommendations: &[
        "Restart the VSS writers that are not in a stable state (vssadmin list writers).",
        "Set SnapshotWithoutThreads in HKLM\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys.",
        "Reduce the IOPS load on the VM during the backup.",
    ],
};

const fn script_error(code: &'static str, message: &'static str) -> AzureBackupError {
    AzureBackupError {
        code,
        message,
        recommendations: &[
            "Check /etc/azure/VMSnapshotScriptPluginConfig.json (mode 600) and the scripts (mode 700, owned by root).",
        ],
    }
}

/// The user-facing error for a failed task's extension `code`. Microsoft publishes no such
/// mapping; each arm notes what it rests on (≈ marks an inference in the spec). Codes that
/// are not failures (0, 1, 3, 4) and unknown codes give the generic internal error.
pub fn azure_error_for_extension_code(code: u32) -> AzureBackupError {
    match code {
        // ≈ spec §5: 76; 761 and an HTTP failure are the same symptom.
        15 | 76 | 761 => NO_NETWORK,
        // ≈ spec §5.
        85 => SNAPSHOT_LIMIT,
        // ≈ spec §5: 121–123; 124 is the missing freeze helper, a broken extension.
        121..=123 => FREEZE_FAILED,
        124 => EXTENSION_FAILED,
        // Inferred: settings or certificate the extension could not use.
        11 | 16 | 17 => CONFIG_PARSING,
        // Inferred: the agent ran the command after the 140-minute limit.
        COMMAND_TOO_LATE => GUEST_AGENT_STATUS_UNAVAILABLE,
        // Names from backup-azure-linux-app-consistent.md; which code gives which is inferred.
        300 => script_error(
            "Pre-ScriptExecutionFailed",
            "The pre-script returned an error",
        ),
        301 => script_error(
            "Post-ScriptExecutionFailed",
            "The post-script returned an error",
        ),
        302 => script_error("Pre-ScriptNotFound", "The pre-script was not found"),
        303 => script_error("Post-ScriptNotFound", "The post-script was not found"),
        304 | 313..=315 => script_error(
            "IncorrectPluginhostFile",
            "The pluginhost configuration file is missing, malformed or has wrong permissions",
        ),
        305 | 316..=318 => script_error(
            "IncorrectJSONConfigFile",
            "The script plugin configuration file is missing, malformed or has wrong permissions",
        ),
        306 => script_error(
            "InsufficientPermissionforPre-Script",
            "The pre-script has insufficient permissions",
        ),
        307 => script_error(
            "InsufficientPermissionforPost-Script",
            "The post-script has insufficient permissions",
        ),
        308 | 310 => script_error("Pre-ScriptTimeout", "The pre-script timed out"),
        309 | 311 => script_error("Post-ScriptTimeout", "The post-script timed out"),
        // Inferred: database workload quiescing failed inside the VM.
        500..=512 => VM_REPORTED,
        // vaultsim's writer codes; domain.md §2.9 (ExtensionFailedVssWriterInBadState).
        VSS_WRITER_IN_BAD_STATE..=VSS_WRITER_THAW_FAILED => VSS_WRITER_BAD_STATE,
        // 2 (generic error), 12, 173 (storage throttled the snapshot calls) and 556 (host
        // snapshot failed) are transient as far as the user can tell: "retry in a few minutes".
        _ => INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_code_has_its_health_colour() {
        let colour = |code| extension_code(code).unwrap().health;
        assert_eq!(colour(0), Some(HealthState::Green));
        assert_eq!(colour(173), Some(HealthState::Green));
        assert_eq!(colour(11), Some(HealthState::Yellow));
        assert_eq!(colour(122), Some(HealthState::Yellow));
        assert_eq!(colour(309), Some(HealthState::Yellow));
        assert_eq!(colour(512), Some(HealthState::Yellow));
        assert_eq!(colour(15), Some(HealthState::Red));
        assert_eq!(colour(761), Some(HealthState::Red));
        assert_eq!(colour(402), Some(HealthState::Red));
        assert_eq!(colour(556), None);
        assert_eq!(colour(600), Some(HealthState::Yellow));
        assert_eq!(colour(604), Some(HealthState::Yellow));
        for unknown in [5, 13, 14, 125, 319, 513, 599, 605] {
            assert_eq!(extension_code(unknown), None, "{unknown}");
        }
        let expected = [
            0, 1, 2, 3, 4, 11, 12, 15, 16, 17, 76, 761, 85, 173, 556, 402,
        ];
        let listed = expected
            .into_iter()
            .chain(121..=124)
            .chain(300..=318)
            .chain(500..=512)
            .chain(600..=604);
        for code in listed {
            assert!(extension_code(code).is_some(), "{code}");
        }
        assert_eq!(EXTENSION_CODES.len(), 16 + 4 + 19 + 13 + 5);
    }

    #[test]
    fn health_states_are_the_wire_numbers() {
        assert_eq!(HealthState::Green.vm_health_state(), 0);
        assert_eq!(HealthState::Yellow.vm_health_state(), 128);
        assert_eq!(HealthState::Red.vm_health_state(), 256);
    }

    #[test]
    fn failures_map_to_the_documented_user_errors() {
        let code = |c| azure_error_for_extension_code(c).code;
        assert_eq!(code(76), "ExtensionSnapshotFailedNoNetwork");
        assert_eq!(code(761), "ExtensionSnapshotFailedNoNetwork");
        assert_eq!(code(85), "ExtensionFailedSnapshotLimitReachedError");
        assert_eq!(code(121), "UserErrorFsFreezeFailed");
        assert_eq!(code(123), "UserErrorFsFreezeFailed");
        assert_eq!(code(402), "UserErrorGuestAgentStatusUnavailable");
        assert_eq!(code(300), "Pre-ScriptExecutionFailed");
        assert_eq!(code(311), "Post-ScriptTimeout");
        assert_eq!(code(316), "IncorrectJSONConfigFile");
        assert_eq!(code(2), "BackUpOperationFailedV2");
        assert_eq!(code(99_999), "BackUpOperationFailedV2");
        for vss in 600..=604 {
            assert_eq!(code(vss), "ExtensionFailedVssWriterInBadState", "{vss}");
        }
        assert_eq!(code(599), "BackUpOperationFailedV2");
        assert_eq!(code(605), "BackUpOperationFailedV2");
        for c in [2, 76, 121, 300, 402, 505, 600] {
            let error = azure_error_for_extension_code(c);
            assert!(!error.message.is_empty() && !error.recommendations.is_empty());
        }
    }

    #[test]
    fn errors_with_a_published_number_carry_it() {
        assert_eq!(VM_AGENT_NOT_REGISTERED.numeric_code(), 380_008);
        assert_eq!(VM_NOT_FOUND.numeric_code(), 400_094);
        assert_eq!(INTERNAL_ERROR.numeric_code(), 0);
        assert_eq!(azure_error_for_extension_code(76).numeric_code(), 0);
    }
}
