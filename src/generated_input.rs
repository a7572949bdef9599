//! Generators of outside input for the parsers' property tests: arbitrary text, and text
//! near each documented form (digit runs of any length, signs, fractions, missing and
//! repeated parts), where the parsers' edge cases live.

use proptest::prelude::*;

/// A run of digits, from none to far more than any field holds.
fn digits() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{0,3}", "[0-9]{4,25}", "0{0,5}[1-9]"]
}

/// Arbitrary text or text built by `near`.
pub fn or_any(near: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![3 => near, 1 => any::<String>()]
}

/// ISO 8601 durations and near misses: `P{n}Y{n}M{n}W{n}DT{n}H{n}M{n}S`, each part
/// optional, with signs, decimals and stray units.
pub fn near_iso_duration() -> impl Strategy<Value = String> {
    let part = |units: &'static str| {
        (
            "[-+]?",
            digits(),
            "(\\.[0-9]{0,4})?",
            prop::sample::select(units.chars().collect::<Vec<_>>()),
        )
            .prop_map(|(sign, n, fraction, unit)| format!("{sign}{n}{fraction}{unit}"))
    };
    (
        "P?",
        prop::collection::vec(part("YMWDHSX"), 0..4),
        "T?",
        prop::collection::vec(part("HMSDY"), 0..4),
    )
        .prop_map(|(p, date, t, time)| format!("{p}{}{t}{}", date.concat(), time.concat()))
}

/// Instants and near misses: `YYYY-MM-DDThh:mm:ss.fff±hh:mm`, parts of any length,
/// separators and zones varied.
pub fn near_iso_instant() -> impl Strategy<Value = String> {
    let date = ("[-+]?", digits(), "[-/]?", digits(), "[-/]?", digits())
        .prop_map(|(sign, y, s1, mo, s2, d)| format!("{sign}{y}{s1}{mo}{s2}{d}"));
    let time = (
        "[T ]?",
        digits(),
        ":?",
        digits(),
        "(:[0-9]{0,3})?",
        "(\\.[0-9]{0,12})?",
        "( ?[AP]M)?",
        "(Z|z|[+-][0-9]{1,2}:?[0-9]{0,2})?",
    )
        .prop_map(|(t, h, c, mi, s, f, ampm, zone)| format!("{t}{h}{c}{mi}{s}{f}{ampm}{zone}"));
    (date, time).prop_map(|(date, time)| format!("{date}{time}"))
}

/// OData `$filter` text and near misses: `key op value` terms joined by `and`/`or`, quotes
/// balanced or not, any spacing, unicode in keys and values.
pub fn near_filter() -> impl Strategy<Value = String> {
    let space = "[ \t\u{a0}\u{3000}]{0,2}";
    let term = (
        prop_oneof!["[a-zA-Z]{1,12}", "\\PC{0,6}"],
        space,
        prop::sample::select(vec!["eq", "EQ", "ne", "gt", "", "eq'"]),
        space,
        prop_oneof![
            "'[^']{0,12}'",
            "'[^']{0,8}",
            "[^ ]{0,8}",
            "''",
            "'\\PC{0,8}'",
        ],
    )
        .prop_map(|(key, s1, op, s2, value)| format!("{key}{s1}{op}{s2}{value}"));
    (
        prop::collection::vec(term, 0..4),
        prop::sample::select(vec![" and ", " AND ", " or ", "and", "  and\t", " "]),
        space,
    )
        .prop_map(|(terms, joiner, tail)| format!("{}{tail}", terms.join(joiner)))
}

/// ARM request paths: segments from the real vocabulary (in any case), names, random and
/// percent-encoded segments, and empty ones.
pub fn near_arm_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        4 => prop::sample::select(vec![
            "subscriptions", "resourceGroups", "providers", "Microsoft.RecoveryServices",
            "microsoft.compute", "Microsoft.Storage", "Microsoft.ClassicStorage", "vaults",
            "virtualMachines", "extensions", "backupPolicies", "backupFabrics", "Azure",
            "protectionContainers", "protectedItems", "recoveryPoints", "restore", "backup",
            "backupJobs", "cancel", "operationResults", "operationsStatus", "backupstatus",
            "locations", "backupProtectableItems", "backupProtectedItems", "refreshContainers",
            "backupconfig", "vaultconfig", "backupstorageconfig", "vaultstorageconfig",
            "backupEncryptionConfigs", "backupResourceEncryptionConfig", "storageAccounts",
            "backupOperationResults", "backupOperations", "backupProtectionContainers",
            "backupResourceGuardProxies", "resources", "tenants", "metadata", "endpoints",
            "IaasVMContainer;iaasvmcontainerv2;rg;vm1", "VM;iaasvmcontainerv2;rg;vm1",
            "00000000-0000-0000-0000-000000000001", "rg", "v1", "vm1", "",
        ])
        .prop_map(str::to_owned),
        1 => "[^/]{0,10}",
        1 => "(%[0-9A-Fa-f]{0,2}|[a-z.]){1,6}",
    ];
    (prop::collection::vec(segment, 0..18), "/?")
        .prop_map(|(segments, tail)| format!("/{}{tail}", segments.join("/")))
}
