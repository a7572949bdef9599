use chrono::TimeZone;
use serde_json::{json, Value};

use super::*;

/// A final status shaped as the real extension uploads it (guest path, two disks), with
/// the host path's string `isSuccessful` on the second disk.
fn real_blob() -> Value {
    json!([{
        "version": "1.0",
        "timestampUTC": "/Date(1700000000123)/",
        "status": {
            "name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux",
            "operation": "Enable",
            "status": "success",
            "substatus": [],
            "code": "1",
            "taskId": "0b9c1d2e-0000-4000-8000-000000000001_1",
            "formattedMessage": {
                "lang": "en-US",
                "message": "{\"messageStr\": \"snapshotCreator=guestExtension, \", \"snapshotConsistency\": 0, \"jobMessage\": \"\", \"isSizeComputationFailed\": false}"
            },
            "storageDetails": {"partitionCount": 2, "totalUsedSizeInBytes": 123456, "isStoragespacePresent": false, "isSizeComputationFailed": false},
            "commandStartTimeUTCTicks": "638355968000000000",
            "telemetryData": [{"Value": "1", "Key": "extErrorCode"}],
            "uniqueMachineId": "a1b2",
            "snapshotInfo": [
                {"isSuccessful": true, "snapshotUri": "https://h/c/os.vhd?snapshot=2023-11-14T22:13:20.1234567Z", "errorMessage": null, "blobUri": "https://h/c/os.vhd", "directDriveSnapshotIdentifier": null},
                {"isSuccessful": "false", "snapshotUri": "https://h/c/data.vhd", "errorMessage": "<Error/>", "blobUri": "https://h/c/data.vhd", "directDriveSnapshotIdentifier": null}
            ],
            "vmHealthInfo": {"vmHealthState": 0, "vmHealthStatusCode": 1}
        }
    }])
}

fn parse(value: &Value) -> Result<StatusReport, StatusBlobError> {
    parse_status_blob(&serde_json::to_vec(value).unwrap())
}

fn with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut blob = real_blob();
    edit(&mut blob);
    blob
}

#[test]
fn a_real_final_status_parses() {
    let report = parse(&real_blob()).unwrap();
    assert_eq!(report.task_id, "0b9c1d2e-0000-4000-8000-000000000001_1");
    assert_eq!(report.code, 1);
    assert!(!report.is_transitioning());
    assert_eq!(
        report.consistency(),
        Some(SnapshotConsistency::FileSystemConsistent)
    );
    assert_eq!(report.message(), "snapshotCreator=guestExtension, ");
    assert_eq!(
        report.timestamp,
        Utc.timestamp_millis_opt(1_700_000_000_123).unwrap()
    );
    assert_eq!(report.snapshots.len(), 2);
    assert!(report.snapshots[0].is_successful);
    assert_eq!(
        report.snapshots[0].snapshot_time.as_deref(),
        Some("2023-11-14T22:13:20.1234567Z")
    );
    assert_eq!(
        report.snapshots[0].blob_uri.as_deref(),
        Some("https://h/c/os.vhd")
    );
    assert!(!report.snapshots[1].is_successful);
    assert_eq!(report.snapshots[1].snapshot_time, None);
    assert_eq!(
        report.snapshots[1].error_message.as_deref(),
        Some("<Error/>")
    );
}

/// Frozen from the snapshot through the thaw, as the telemetry tells it (the agent also
/// writes a `snapshotTimeTaken` in milliseconds, which is not the `timedelta` form).
#[test]
fn the_frozen_time_is_the_snapshot_and_the_thaw() {
    assert_eq!(parse(&real_blob()).unwrap().frozen_for(), None, "no freeze");
    let frozen = with(|blob| {
        blob[0]["status"]["telemetryData"] = json!([
            {"Value": "0:00:00.020000", "Key": "FreezeTime"},
            {"Value": "0:00:01.250000", "Key": "snapshotTimeTaken"},
            {"Value": "0:00:00.005000", "Key": "ThawTime"},
            {"Value": "1300", "Key": "snapshotTimeTaken"},
        ]);
    });
    assert_eq!(
        parse(&frozen).unwrap().frozen_for(),
        Some(std::time::Duration::from_millis(1255))
    );
    let unthawed = with(|blob| {
        blob[0]["status"]["telemetryData"] =
            json!([{"Value": "0:00:01.250000", "Key": "snapshotTimeTaken"}]);
    });
    assert_eq!(parse(&unthawed).unwrap().frozen_for(), None);
}

#[test]
fn the_escaped_date_form_parses_too() {
    let text = serde_json::to_string(&real_blob())
        .unwrap()
        .replace("\"/Date(1700000000123)/\"", r#""\/Date(1700000000123)\/""#);
    assert!(text.contains(r#""timestampUTC":"\/Date("#));
    assert!(parse_status_blob(text.as_bytes()).is_ok());
}

#[test]
fn consistency_follows_the_code_not_snapshot_consistency() {
    let report_for = |code: &str, snapshot_consistency: u32| {
        let message = format!(
            r#"{{"messageStr":"","snapshotConsistency":{snapshot_consistency},"jobMessage":"","isSizeComputationFailed":false}}"#
        );
        parse(&with(|b| {
            b[0]["status"]["code"] = json!(code);
            b[0]["status"]["formattedMessage"]["message"] = json!(message);
        }))
        .unwrap()
    };
    use SnapshotConsistency::*;
    assert_eq!(
        report_for("0", 0).consistency(),
        Some(ApplicationConsistent)
    );
    assert_eq!(report_for("1", 0).consistency(), Some(FileSystemConsistent));
    assert_eq!(report_for("1", 3).consistency(), Some(CrashConsistent));
    assert_eq!(report_for("76", 0).consistency(), None);
    let transitioning = report_for("4", 0);
    assert!(transitioning.is_transitioning());
    assert_eq!(transitioning.consistency(), None);
}

#[test]
fn malformed_blobs_are_refused() {
    let refused = |blob: &Value| parse(blob).unwrap_err();
    assert!(matches!(
        parse_status_blob(b"not json"),
        Err(StatusBlobError::Schema(_))
    ));
    assert!(matches!(
        refused(&real_blob()[0]),
        StatusBlobError::Schema(_)
    ));
    assert_eq!(refused(&json!([])), StatusBlobError::EntryCount(0));
    let twice = json!([real_blob()[0], real_blob()[0]]);
    assert_eq!(refused(&twice), StatusBlobError::EntryCount(2));

    for field in ["taskId", "code", "vmHealthInfo", "formattedMessage"] {
        let error = refused(&with(|b| {
            b[0]["status"].as_object_mut().unwrap().remove(field);
        }));
        assert!(
            matches!(&error, StatusBlobError::Schema(m) if m.contains(field)),
            "{field}: {error}"
        );
    }
    for code in [json!(1), json!("1.0"), json!("-1"), json!(""), json!(" 1")] {
        let blob = with(|b| b[0]["status"]["code"] = code.clone());
        assert!(parse(&blob).is_err(), "{code}");
    }
    for stamp in ["2024-01-01T00:00:00Z", "/Date()/", "/Date(-5)/", "Date(5)"] {
        let blob = with(|b| b[0]["timestampUTC"] = json!(stamp));
        assert_eq!(refused(&blob), StatusBlobError::Timestamp, "{stamp}");
    }
    let plain = with(|b| b[0]["status"]["formattedMessage"]["message"] = json!("done"));
    assert!(matches!(refused(&plain), StatusBlobError::Message(_)));
    let yes = with(|b| b[0]["status"]["snapshotInfo"][0]["isSuccessful"] = json!("yes"));
    assert!(matches!(refused(&yes), StatusBlobError::Schema(_)));
    let word = with(|b| b[0]["status"]["status"] = json!("done"));
    assert_eq!(refused(&word), StatusBlobError::StatusWord);
}

#[test]
fn errors_do_not_quote_the_blob() {
    let edits: [fn(&mut Value); 4] = [
        |b| b[0]["status"]["code"] = json!("sig=SECRET"),
        |b| b[0]["status"]["storageDetails"]["partitionCount"] = json!("sig=SECRET"),
        |b| b[0]["status"]["snapshotInfo"][0]["isSuccessful"] = json!("sig=SECRET"),
        |b| {
            b[0]["status"]["formattedMessage"]["message"] =
                json!(r#"{"messageStr":5,"x":"sig=SECRET"}"#)
        },
    ];
    for edit in edits {
        let error = parse(&with(edit)).unwrap_err().to_string();
        assert!(!error.contains("SECRET"), "{error}");
    }
}

fn facts(code: u32, crash_consistent: bool, snapshots: Option<Vec<SnapshotInfo>>) -> StatusFacts {
    StatusFacts {
        handler_name: "Microsoft.Azure.RecoveryServices.VMSnapshotLinux".into(),
        task_id: "job_2".into(),
        command_start_time_utc_ticks: "638355968000000000".into(),
        code,
        health_status_code: code,
        message: String::new(),
        crash_consistent,
        snapshots,
        unique_machine_id: "m".into(),
        timestamp: Utc.timestamp_millis_opt(1_700_000_000_000).unwrap(),
    }
}

#[test]
fn built_statuses_have_the_wire_shape_and_parse_back() {
    let snapshot = SnapshotInfo {
        is_successful: true,
        snapshot_uri: Some("http://h/c/os?snapshot=2023-11-14T22:13:20.0000000Z".into()),
        error_message: None,
        blob_uri: Some("http://h/c/os".into()),
        direct_drive_snapshot_identifier: None,
    };
    let entry = StatusEntry::new(facts(0, false, Some(vec![snapshot])));
    let bytes = entry.to_blob_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with(
            r#"[{"version":"1.0","timestampUTC":"\/Date(1700000000000)\/","status":{"name":"#
        ),
        "{text}"
    );
    assert!(text.contains(r#""code":"0","taskId":"job_2""#), "{text}");
    assert!(text.contains(r#""isSuccessful":true"#), "{text}");
    assert!(text.contains(r#""vmHealthInfo":{"vmHealthState":0,"vmHealthStatusCode":0}"#));

    let report = parse_status_blob(&bytes).unwrap();
    assert_eq!(report.status, "success");
    assert_eq!(
        report.consistency(),
        Some(SnapshotConsistency::ApplicationConsistent)
    );
    assert_eq!(
        report.snapshots[0].snapshot_time.as_deref(),
        Some("2023-11-14T22:13:20.0000000Z")
    );
    let back: Vec<StatusEntry> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, vec![entry]);
}

#[test]
fn built_statuses_pick_the_status_word_and_health() {
    let transitioning =
        parse_status_blob(&StatusEntry::new(facts(4, false, None)).to_blob_bytes()).unwrap();
    assert_eq!(transitioning.status, "success");
    assert!(transitioning.is_transitioning());
    assert!(transitioning.snapshots.is_empty());

    let crash =
        parse_status_blob(&StatusEntry::new(facts(1, true, Some(vec![]))).to_blob_bytes()).unwrap();
    assert_eq!(
        crash.consistency(),
        Some(SnapshotConsistency::CrashConsistent)
    );

    let failed =
        parse_status_blob(&StatusEntry::new(facts(76, false, Some(vec![]))).to_blob_bytes())
            .unwrap();
    assert_eq!(failed.status, "error");
    assert_eq!(failed.health.vm_health_state, 256);
    let freeze = StatusEntry::new(facts(121, false, Some(vec![])));
    assert_eq!(freeze.status.vm_health_info.vm_health_state, 128);
}

#[test]
fn the_status_file_nests_the_blob_and_forces_success_once_terminal() {
    let status = StatusEntry::new(StatusFacts {
        message: "freeze failed".into(),
        ..facts(121, false, Some(vec![]))
    });
    assert_eq!(status.status.status, "error");
    let file = status.to_status_file(Utc.timestamp_millis_opt(1_700_000_000_000).unwrap());
    let inner = &file[0]["status"];
    assert_eq!(inner["status"], "success");
    assert_eq!(inner["code"], "121");
    assert_eq!(file[0]["timestampUTC"], "2023-11-14T22:13:20Z");
    let nested = inner["substatus"][0]["name"].as_str().unwrap();
    assert_eq!(nested.as_bytes(), status.to_blob_bytes());
    assert_eq!(parse_status_blob(nested.as_bytes()).unwrap().code, 121);
    for detail in ["telemetryData", "snapshotInfo", "vmHealthInfo"] {
        assert!(inner[detail].is_null(), "{detail}");
    }
}

mod generated {
    //! Generated status blobs: arbitrary bytes, arbitrary JSON, and the real blob with one
    //! value replaced. Each parses or is refused with a `StatusBlobError`, never a panic.

    use proptest::prelude::*;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "(/Date\\(-?[0-9]{0,22}\\)/|[0-9]{0,25}|-[0-9]{1,5}|transitioning|success|error|warning)"
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-zA-Z]{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every JSON pointer into the real blob, so a mutation can land anywhere.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    pointers(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(fields) => {
                for (key, item) in fields {
                    pointers(item, format!("{at}/{key}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    fn mutated_real_blob() -> impl Strategy<Value = Value> {
        let mut all = Vec::new();
        pointers(&real_blob(), String::new(), &mut all);
        (prop::sample::select(all), json_value()).prop_map(|(pointer, replacement)| {
            let mut blob = real_blob();
            if let Some(slot) = blob.pointer_mut(&pointer) {
                *slot = replacement;
            }
            blob
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_parse_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_status_blob(&bytes);
        }

        #[test]
        fn arbitrary_json_parses_or_is_refused(value in json_value()) {
            let _ = parse(&value);
        }

        #[test]
        fn a_real_blob_with_one_value_replaced_parses_or_is_refused(blob in mutated_real_blob()) {
            if let Ok(report) = parse(&blob) {
                prop_assert!(STATUS_WORDS.contains(&report.status.as_str()));
            }
        }
    }
}
