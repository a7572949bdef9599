"""The Python management SDKs (the versions azure-cli ships) with azure-identity, against
vaultsim over HTTPS: a resource group, a vault, protection of a VM and a backup, each
long-running operation polled to its end by the SDK's own poller."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential, EnvironmentCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.recoveryservices.models import Sku, Vault, VaultProperties
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup.models import (
    AzureIaaSComputeVMProtectedItem,
    BackupRequestResource,
    IaasVMBackupRequest,
    IaasVMRestoreRequest,
    ProtectedItemResource,
    RestoreRequestResource,
)
from azure.mgmt.resource import ResourceManagementClient

from conftest import unique

LOCATION = "eastus"


@pytest.fixture(scope="module")
def credential(service):
    creds = service.credentials
    return ClientSecretCredential(
        creds["tenantId"], creds["clientId"], creds["clientSecret"],
        authority=service.https, disable_instance_discovery=True,
        connection_verify=str(service.ca_file),
    )


def clients(service, credential):
    kwargs = dict(base_url=service.https, credential_scopes=["https://management.core.windows.net//.default"],
                  connection_verify=str(service.ca_file))
    sub = service.subscription
    return (ResourceManagementClient(credential, sub, **kwargs),
            RecoveryServicesClient(credential, sub, **kwargs),
            RecoveryServicesBackupClient(credential, sub, **kwargs),
            ComputeManagementClient(credential, sub, **kwargs))


def test_environment_credential_signs_in_with_environment_variables_alone(service, monkeypatch):
    creds = service.credentials
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", service.https)
    monkeypatch.setenv("AZURE_TENANT_ID", "adfs")
    monkeypatch.setenv("AZURE_CLIENT_ID", creds["clientId"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", creds["clientSecret"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(service.ca_file))
    token = EnvironmentCredential().get_token("https://management.core.windows.net//.default")
    assert token.token and token.expires_on > time.time() + 600


def test_the_sdks_protect_and_back_up_a_vm(service, credential):
    resources, vaults, backup, compute = clients(service, credential)
    group, vault_name, vm = unique("sdkrg"), unique("sdkvault"), unique("sdkvm")
    resources.resource_groups.create_or_update(group, {"location": LOCATION})
    vault = vaults.vaults.begin_create_or_update(
        group, vault_name, Vault(location=LOCATION, sku=Sku(name="Standard"), properties=VaultProperties()),
    ).result()
    assert vault.properties.provisioning_state == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        vaults.vaults.get(group, "no-such-vault")

    service.start_vm(group, vm, LOCATION)
    machine = compute.virtual_machines.get(group, vm)
    assert machine.location == LOCATION
    container = f"IaasVMContainer;iaasvmcontainerv2;{group};{vm}"
    item = f"VM;iaasvmcontainerv2;{group};{vm}"
    policy_id = f"{vault.id}/backupPolicies/DefaultPolicy"
    # An LRO: the SDK polls the operation the 202 names until the item exists.
    protected = backup.protected_items.begin_create_or_update(
        vault_name, group, "Azure", container, item,
        ProtectedItemResource(properties=AzureIaaSComputeVMProtectedItem(source_resource_id=machine.id, policy_id=policy_id)),
    ).result()
    assert protected.name.lower() == item.lower()
    protected = backup.protected_items.get(vault_name, group, "Azure", container, item)
    assert protected.properties.policy_id.lower() == policy_id.lower()

    backup.backups.trigger(
        vault_name, group, "Azure", container, item,
        BackupRequestResource(properties=IaasVMBackupRequest()),
    )
    deadline = time.monotonic() + 120
    while True:
        jobs = [j for j in backup.backup_jobs.list(vault_name, group) if j.properties.operation == "Backup"]
        if jobs and jobs[0].properties.status not in ("InProgress", "Cancelling"):
            break
        assert time.monotonic() < deadline, "the backup did not end"
        time.sleep(1)
    assert jobs[0].properties.status == "Completed"
    points = list(backup.recovery_points.list(vault_name, group, "Azure", container, item))
    assert len(points) == 1
    assert points[0].properties.object_type == "IaasVMRecoveryPoint"

    # Restore is an LRO too: polled to its end, then its job is there, completed.
    account_id = f"/subscriptions/{service.subscription}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1"
    backup.restores.begin_trigger(
        vault_name, group, "Azure", container, item, points[0].name,
        RestoreRequestResource(properties=IaasVMRestoreRequest(
            recovery_point_id=points[0].name, recovery_type="RestoreDisks", source_resource_id=machine.id,
            storage_account_id=account_id, region=LOCATION, create_new_cloud_service=False,
            original_storage_account_option=False)),
    ).result()
    restores = [j for j in backup.backup_jobs.list(vault_name, group) if j.properties.operation == "Restore"]
    assert len(restores) == 1
