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
from azure.mgmt.recoveryservicesbackup.activestamp import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup.activestamp.models import (
    IaasVMBackupRequest,
    IaasVMProtectedItem,
    ProtectedItemResource,
    BackupRequestResource,
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
    backup.protected_items.create_or_update(
        vault_name, group, "Azure", container, item,
        ProtectedItemResource(properties=IaasVMProtectedItem(source_resource_id=machine.id, policy_id=policy_id)),
    )
    # The PUT is asynchronous: the item appears once the operation has run.
    deadline = time.monotonic() + 60
    while True:
        try:
            protected = backup.protected_items.get(vault_name, group, "Azure", container, item)
            break
        except ResourceNotFoundError:
            assert time.monotonic() < deadline, "the protected item never appeared"
            time.sleep(0.5)
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
