"""The `az backup` commands of the Azure Backup docs, end to end, against vaultsim over
HTTPS with an agent playing the VM. The tests of this module run in order and build on
each other as a user's session does: sign in, a vault, policies, protection, a backup
that really completes, its recovery point, a restore whose disks equal the source, then
stopping protection and deleting the vault."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from azure.storage.blob import BlobServiceClient

from conftest import Az, unique

ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

LOCATION = "eastus"
GROUP = unique("rg")
VAULT = unique("vault")
VM = unique("vm")
POLICY = "DailyAt2"

state: dict = {}


def blob_service(service) -> BlobServiceClient:
    """The served storage account over HTTPS, with its key, as a storage user reaches it."""
    return BlobServiceClient(
        f"{service.blob_https}/{ACCOUNT}",
        credential={"account_name": ACCOUNT, "account_key": DEV_ACCOUNT_KEY},
        connection_verify=str(service.ca_file),
    )


def disk_contents(blob) -> dict[int, bytes]:
    """A page blob's written ranges and their bytes."""
    ranges, _ = blob.get_page_ranges()
    return {r["start"]: blob.download_blob(offset=r["start"], length=r["end"] - r["start"] + 1).readall()
            for r in ranges}


def item_args(az) -> list[str]:
    return ["-g", GROUP, "-v", VAULT, "-c", VM, "--backup-management-type", "AzureIaasVM",
            "--workload-type", "VM"]


def wait_for_job(az, job: str) -> dict:
    az.run("backup", "job", "wait", "-g", GROUP, "-v", VAULT, "-n", job, "--timeout", "600")
    return az.json("backup", "job", "show", "-g", GROUP, "-v", VAULT, "-n", job)


def test_the_signed_in_account_is_the_services_subscription(az, service):
    account = az.json("account", "show")
    assert account["id"] == service.subscription
    assert account["tenantId"] == service.credentials["tenantId"]
    assert account["environmentName"] == "vaultsim"
    assert account["user"] == {"name": service.credentials["clientId"], "type": "servicePrincipal"}
    assert account["state"] == "Enabled"
    assert service.subscription in [a["id"] for a in az.json("account", "list")]


def test_a_resource_group_is_created_and_listed(az):
    group = az.json("group", "create", "-n", GROUP, "-l", LOCATION)
    assert group["name"] == GROUP
    assert group["properties"]["provisioningState"] == "Succeeded"
    assert GROUP in [g["name"] for g in az.json("group", "list")]
    table = az.run("group", "list", "-o", "table").stdout
    assert GROUP in table and "Succeeded" in table


def test_a_vault_is_created_listed_and_shown(az):
    vault = az.json("backup", "vault", "create", "-g", GROUP, "-n", VAULT, "-l", LOCATION)
    assert vault["name"] == VAULT
    assert vault["type"] == "Microsoft.RecoveryServices/vaults"
    assert vault["properties"]["provisioningState"] == "Succeeded"
    assert VAULT in [v["name"] for v in az.json("backup", "vault", "list", "-g", GROUP)]
    shown = az.json("backup", "vault", "show", "-g", GROUP, "-n", VAULT)
    assert shown["id"] == vault["id"]
    assert shown["location"] == LOCATION
    state["vault_id"] = vault["id"]


def test_the_vaults_policies_are_listed_shown_and_created(az, tmp_path):
    names = [p["name"] for p in az.json("backup", "policy", "list", "-g", GROUP, "-v", VAULT)]
    assert "DefaultPolicy" in names and "EnhancedPolicy" in names
    default = az.json("backup", "policy", "show", "-g", GROUP, "-v", VAULT, "-n", "DefaultPolicy")
    assert default["properties"]["backupManagementType"] == "AzureIaasVM"
    template = az.json("backup", "policy", "get-default-for-vm", "-g", GROUP, "-v", VAULT)
    assert template["properties"]["schedulePolicy"]["scheduleRunFrequency"] == "Daily"
    template["properties"]["schedulePolicy"]["scheduleRunTimes"] = ["2026-01-01T02:00:00+00:00"]
    template["properties"]["retentionPolicy"]["dailySchedule"]["retentionTimes"] = ["2026-01-01T02:00:00+00:00"]
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(template))
    created = az.json("backup", "policy", "create", "-g", GROUP, "-v", VAULT, "-n", POLICY,
                      "--policy", str(policy_file), "--backup-management-type", "AzureIaasVM")
    assert created["name"] == POLICY
    assert created["properties"]["schedulePolicy"]["scheduleRunTimes"][0].startswith("2026-01-01T02:00:00")
    template["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = 45
    policy_file.write_text(json.dumps(template))
    changed = az.json("backup", "policy", "set", "-g", GROUP, "-v", VAULT, "-n", POLICY,
                      "--policy", str(policy_file))
    assert changed["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] == 45


def test_a_vm_is_protected_with_the_default_policy(az, service):
    service.start_vm(GROUP, VM, LOCATION)
    vm_id = service.vm_id(GROUP, VM)
    # The guest writes to its disks: a different pattern per disk, at different offsets.
    machine = az.json("vm", "show", "-g", GROUP, "-n", VM)
    disks = blob_service(service).get_container_client("vm-" + machine["vmId"].replace("-", ""))
    written = {}
    for n, name in enumerate(sorted(b.name for b in disks.list_blobs())):
        disk = disks.get_blob_client(name)
        disk.upload_page(os.urandom(64 << 10), offset=(n + 1) << 20, length=64 << 10)
        written[name] = disk_contents(disk)
    assert len(written) == 2, written.keys()
    state["disks"] = written
    unprotected = az.run("backup", "protection", "check-vm", "--vm", vm_id).stdout
    assert unprotected.strip() == ""
    job = az.json("backup", "protection", "enable-for-vm", "-g", GROUP, "-v", VAULT, "--vm", VM,
                  "--policy-name", "DefaultPolicy")
    assert job["properties"]["operation"] == "ConfigureBackup"
    assert job["properties"]["status"] == "Completed"
    assert job["properties"]["entityFriendlyName"].lower() == VM.lower()
    protected_in = az.run("backup", "protection", "check-vm", "--vm", vm_id, "-o", "tsv").stdout.strip()
    assert protected_in.lower() == state["vault_id"].lower()
    mistake = az.fails("backup", "protection", "enable-for-vm", "-g", GROUP, "-v", VAULT, "--vm", VM,
                       "--policy-name", "DefaultPolicy")
    assert "already" in mistake.lower() and "protected" in mistake.lower(), mistake


def test_containers_and_items_are_listed_and_shown(az):
    containers = az.json("backup", "container", "list", "-g", GROUP, "-v", VAULT,
                         "--backup-management-type", "AzureIaasVM")
    assert [c["properties"]["friendlyName"].lower() for c in containers] == [VM.lower()]
    items = az.json("backup", "item", "list", "-g", GROUP, "-v", VAULT)
    assert [i["properties"]["friendlyName"].lower() for i in items] == [VM.lower()]
    item = az.json("backup", "item", "show", *item_args(az), "-n", VM)
    assert item["properties"]["policyName"] == "DefaultPolicy"
    assert item["properties"]["protectionState"] == "IRPending"


def test_backup_now_completes_with_a_recovery_point(az):
    job = az.json("backup", "protection", "backup-now", *item_args(az), "-i", VM,
                  "--retain-until", "01-01-2030")
    assert job["properties"]["operation"] == "Backup"
    done = wait_for_job(az, job["name"])
    assert done["properties"]["status"] == "Completed", done
    tasks = done["properties"]["extendedInfo"]["tasksList"]
    assert [t["taskId"] for t in tasks] == ["Take Snapshot", "Transfer data to vault"]
    assert all(t["status"] == "Completed" for t in tasks)
    assert job["name"] in [j["name"] for j in az.json("backup", "job", "list", "-g", GROUP, "-v", VAULT)]
    points = az.json("backup", "recoverypoint", "list", *item_args(az), "-i", VM)
    assert len(points) == 1
    point = az.json("backup", "recoverypoint", "show", *item_args(az), "-i", VM, "-n", points[0]["name"])
    assert point["properties"]["objectType"] == "IaasVMRecoveryPoint"
    tiers = {t["type"]: t["status"] for t in point["properties"]["recoveryPointTierDetails"]}
    assert tiers == {"InstantRP": "Valid", "HardenedRP": "Valid"}
    state["recovery_point"] = point["name"]
    state["backup_job"] = job["name"]


def test_tables_show_the_protected_vm_and_its_jobs(az):
    items = az.run("backup", "item", "list", "-g", GROUP, "-v", VAULT, "-o", "table").stdout
    header, _, row = items.splitlines()[:3]
    assert header.split()[:2] == ["Name", "Friendly"], items
    # Name, friendly name, container, group, type, last backup status and time, health.
    assert row.split()[1:6] == [VM, f"iaasvmcontainerv2;{GROUP};{VM}", GROUP, "VM", "Completed"], items
    jobs = az.run("backup", "job", "list", "-g", GROUP, "-v", VAULT, "-o", "table").stdout
    assert "Backup" in jobs and "ConfigureBackup" in jobs and "Completed" in jobs


def test_the_snapshot_extension_shows_after_the_first_backup(az):
    table = az.run("vm", "extension", "list", "-g", GROUP, "--vm-name", VM, "-o", "table").stdout
    line = next(line for line in table.splitlines() if "VMSnapshotLinux" in line)
    assert "Succeeded" in line and "Microsoft.Azure.RecoveryServices" in line


def test_an_extension_is_installed_shown_in_the_instance_view_and_deleted(az):
    # The VM's agent hosts no package for this extension, so it reports it as the Linux
    # guest agent reports one it cannot download: az waits for the operation and fails
    # with Compute's provisioning error, and the instance view shows the agent's status.
    refused = az.fails("vm", "extension", "set", "-g", GROUP, "--vm-name", VM, "--name", "Probe",
                       "--publisher", "Contoso.Monitoring", "--version", "1.0",
                       "--settings", '{"interval": 5}', "--protected-settings", '{"token": "s3cret"}')
    assert "VMExtensionProvisioningError" in refused, refused
    assert "Failed to download artifacts" in refused, refused
    shown = az.json("vm", "extension", "show", "-g", GROUP, "--vm-name", VM, "-n", "Probe", "--instance-view")
    assert shown["provisioningState"] == "Failed", shown
    assert shown["settings"] == {"interval": 5}, shown
    assert "s3cret" not in json.dumps(shown), shown
    assert shown["instanceView"]["type"] == "Contoso.Monitoring.Probe", shown
    assert shown["instanceView"]["statuses"][0]["code"].startswith("ProvisioningState/failed"), shown
    view = az.json("vm", "get-instance-view", "-g", GROUP, "-n", VM)["instanceView"]
    assert view["vmAgent"]["statuses"][0]["displayStatus"] == "Ready", view
    assert view["vmAgent"]["vmAgentVersion"] not in (None, "Unknown"), view
    snapshot = next(e for e in view["extensions"] if e["name"] == "VMSnapshotLinux")
    assert snapshot["statuses"][0]["code"] == "ProvisioningState/succeeded", snapshot
    refused = az.fails("vm", "extension", "set", "-g", GROUP, "--vm-name", VM, "--name", "VMSnapshotLinux",
                       "--publisher", "Microsoft.Azure.RecoveryServices", "--version", "1.0")
    assert "OperationNotAllowed" in refused, refused
    # The agent never installed it: it says at once that it is gone, and the deletion ends.
    az.run("vm", "extension", "delete", "-g", GROUP, "--vm-name", VM, "-n", "Probe")
    gone = az.fails("vm", "extension", "show", "-g", GROUP, "--vm-name", VM, "-n", "Probe")
    assert "ResourceNotFound" in gone or "not found" in gone.lower(), gone


def test_restore_disks_writes_disks_equal_to_the_source(az, service):
    account = az.json("storage", "account", "show", "-g", GROUP, "-n", "devstoreaccount1")
    assert account["primaryEndpoints"]["blob"].startswith("https://")
    job = az.json("backup", "restore", "restore-disks", "-g", GROUP, "-v", VAULT, "-c", VM, "-i", VM,
                  "-r", state["recovery_point"], "--storage-account", "devstoreaccount1")
    assert job["properties"]["operation"] == "Restore"
    done = wait_for_job(az, job["name"])
    assert done["properties"]["status"] == "Completed", done
    bag = done["properties"]["extendedInfo"]["propertyBag"]
    restored = blob_service(service).get_container_client(bag["Config Blob Container Name"])
    restored_disks = bag["Restored Disks"].split(",")
    assert len(restored_disks) == len(state["disks"])
    source = sorted(state["disks"].values(), key=lambda d: sorted(d))
    copies = sorted((disk_contents(restored.get_blob_client(name)) for name in restored_disks),
                    key=lambda d: sorted(d))
    assert copies == source
    assert int(bag["Bytes Restored"]) == 2 * (64 << 10)


def test_a_running_job_is_stopped(az, service):
    agent = service.agents[0]
    # The VM stops answering: its backup waits for a status that does not come.
    os.killpg(agent.proc.pid, signal.SIGSTOP)
    try:
        job = az.json("backup", "protection", "backup-now", *item_args(az), "-i", VM,
                      "--retain-until", "01-01-2030")
        az.run("backup", "job", "stop", "-g", GROUP, "-v", VAULT, "-n", job["name"])
        deadline = time.monotonic() + 60
        while True:
            shown = az.json("backup", "job", "show", "-g", GROUP, "-v", VAULT, "-n", job["name"])
            if shown["properties"]["status"] == "Cancelled" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert shown["properties"]["status"] == "Cancelled", shown
        tasks = shown["properties"]["extendedInfo"]["tasksList"]
        assert tasks and all(t["status"] not in ("InProgress", "NotStarted") and t["endTime"] for t in tasks), tasks
    finally:
        os.killpg(agent.proc.pid, signal.SIGCONT)


def test_the_item_moves_to_another_policy(az):
    changed = az.json("backup", "item", "set-policy", "-g", GROUP, "-v", VAULT, "-c", VM, "-n", VM,
                      "-p", POLICY, "--backup-management-type", "AzureIaasVM", "--workload-type", "VM")
    assert changed["properties"]["status"] == "Completed"
    item = az.json("backup", "item", "show", *item_args(az), "-n", VM)
    assert item["properties"]["policyName"] == POLICY


def test_vault_backup_properties_are_shown_and_set(az):
    def vault_config():
        shown = az.json("backup", "vault", "backup-properties", "show", "-g", GROUP, "-n", VAULT)
        return next(c["properties"] for c in shown if c["name"] == "vaultconfig")

    # az creates vaults with soft delete always on, which can never be turned off.
    shown = vault_config()
    assert shown["softDeleteFeatureState"] == "AlwaysON"
    assert shown["isSoftDeleteFeatureStateEditable"] is False
    az.run("backup", "vault", "backup-properties", "set", "-g", GROUP, "-n", VAULT,
           "--soft-delete-duration", "30", "--soft-delete-feature-state", "Disable")
    shown = vault_config()
    assert shown["softDeleteRetentionPeriodInDays"] == 30
    assert shown["softDeleteFeatureState"] == "AlwaysON"


def test_mistakes_get_the_messages_azure_gives(az, service, tmp_path):
    unknown = az.fails("backup", "vault", "show", "-g", GROUP, "-n", "no-such-vault")
    assert "ResourceNotFound" in unknown, unknown
    no_vm = az.fails("backup", "protection", "enable-for-vm", "-g", GROUP, "-v", VAULT, "--vm", "no-such-vm",
                     "--policy-name", "DefaultPolicy")
    assert "not found" in no_vm.lower(), no_vm
    in_use = az.fails("backup", "policy", "delete", "-g", GROUP, "-v", VAULT, "-n", POLICY)
    assert "(BMSUserErrorPolicyInUse)" in in_use and "cannot be deleted" in in_use, in_use
    creds = service.credentials
    # In a configuration of its own: a failed sign-in must not disturb the session's.
    stranger = Az(service, tmp_path)
    stranger.run("cloud", "register", "-n", "vaultsim", "--endpoint-resource-manager", service.https + "/")
    stranger.run("cloud", "set", "-n", "vaultsim")
    wrong_secret = stranger.fails("login", "--service-principal", "-u", creds["clientId"], "-p", "not-the-secret",
                            "--tenant", creds["tenantId"])
    assert "AADSTS7000215" in wrong_secret, wrong_secret


def test_protection_stops_then_the_data_and_the_vault_go(az):
    az.run("backup", "protection", "disable", *item_args(az), "-i", VM, "--yes")
    item = az.json("backup", "item", "show", *item_args(az), "-n", VM)
    assert item["properties"]["protectionState"] == "ProtectionStopped"
    az.run("backup", "protection", "disable", *item_args(az), "-i", VM, "--delete-backup-data", "true", "--yes")
    assert az.json("backup", "item", "list", "-g", GROUP, "-v", VAULT) == []
    az.run("backup", "vault", "delete", "-g", GROUP, "-n", VAULT, "--yes")
    assert VAULT not in [v["name"] for v in az.json("backup", "vault", "list", "-g", GROUP)]


def test_resources_are_found_without_an_api_version(az, service):
    vm_id = service.vm_id(GROUP, VM)
    shown = az.json("resource", "show", "--ids", vm_id)
    assert shown["type"] == "Microsoft.Compute/virtualMachines"
    listed = az.json("resource", "list", "-g", GROUP)
    assert sorted((r["type"], r["name"]) for r in listed) == [
        ("Microsoft.Compute/virtualMachines", VM),
        ("Microsoft.Storage/storageAccounts", ACCOUNT),
    ]
    assert listed[0]["resourceGroup"] == GROUP
    vault = json.dumps({"location": LOCATION, "sku": {"name": "Standard"}, "properties": {}})
    created = az.json("resource", "create", "-g", GROUP, "-n", "made-by-az-resource",
                      "--resource-type", "Microsoft.RecoveryServices/vaults", "--is-full-object",
                      "--properties", vault)
    assert created["properties"]["provisioningState"] == "Succeeded"
    vaults = az.json("resource", "list", "-g", GROUP, "--resource-type", "Microsoft.RecoveryServices/vaults")
    assert [v["name"] for v in vaults] == ["made-by-az-resource"]
