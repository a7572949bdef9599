"""`az vm create` as the Azure docs use it, against vaultsim with the real `az`: the image
alias resolved through the catalogue (and the cloud's alias document for aliases az's own
copy lacks), the network resources and the VM deployed through the template az builds,
then the VM listed, shown, backed up with `az backup` once an agent plays it, deallocated
and backed up without it, started, stopped and restarted, and deleted.
The tests of this module run in order and build on each other."""

from __future__ import annotations

from conftest import unique

LOCATION = "eastus"
GROUP = unique("rg")
VAULT = unique("vault")
LINUX_VM = unique("web")
PASSWORD = "Vaultsim-Passw0rd!"

state: dict = {}


def backup_completes(az) -> list:
    """`az backup protection backup-now` of the Linux VM, waited for; its recovery points."""
    backup = az.json("backup", "protection", "backup-now", "-g", GROUP, "-v", VAULT, "-c", LINUX_VM,
                     "-i", LINUX_VM, "--backup-management-type", "AzureIaasVM", "--workload-type", "VM")
    az.run("backup", "job", "wait", "-g", GROUP, "-v", VAULT, "-n", backup["name"], "--timeout", "600")
    finished = az.json("backup", "job", "show", "-g", GROUP, "-v", VAULT, "-n", backup["name"])
    assert finished["properties"]["status"] == "Completed", finished
    return az.json("backup", "recoverypoint", "list", "-g", GROUP, "-v", VAULT, "-c", LINUX_VM,
                   "-i", LINUX_VM, "--backup-management-type", "AzureIaasVM", "--workload-type", "VM")


def test_az_vm_create_deploys_the_network_and_a_linux_vm(az):
    az.run("group", "create", "-n", GROUP, "-l", LOCATION)
    created = az.json("vm", "create", "-g", GROUP, "-n", LINUX_VM, "--image", "Ubuntu2204",
                      "--admin-username", "azureuser", "--admin-password", PASSWORD)
    assert created["powerState"] == "VM running", created
    assert created["privateIpAddress"] == "10.0.0.4"
    assert created["publicIpAddress"], created
    vm = az.json("vm", "show", "-g", GROUP, "-n", LINUX_VM)
    storage = vm["storageProfile"]
    assert storage["imageReference"]["offer"] == "0001-com-ubuntu-server-jammy"
    assert storage["osDisk"]["osType"] == "Linux"
    assert vm["osProfile"]["adminUsername"] == "azureuser"
    assert "adminPassword" not in vm["osProfile"] or vm["osProfile"]["adminPassword"] is None
    nic_id = vm["networkProfile"]["networkInterfaces"][0]["id"]
    nic = az.json("network", "nic", "show", "--ids", nic_id)
    assert nic["ipConfigurations"][0]["privateIPAddress"] == "10.0.0.4"
    vnets = az.json("network", "vnet", "list", "-g", GROUP)
    assert len(vnets) == 1 and vnets[0]["subnets"], vnets
    deployments = [d["name"] for d in az.json("deployment", "group", "list", "-g", GROUP)]
    assert any(name.startswith("vm_deploy_") for name in deployments), deployments
    state["vm_id"] = vm["id"]


def test_aliases_az_does_not_carry_come_from_the_clouds_alias_document(az):
    windows = az.json("vm", "create", "-g", GROUP, "-n", unique("win"), "--image", "Win2022Datacenter",
                      "--admin-username", "azureuser", "--admin-password", PASSWORD)
    assert windows["powerState"] == "VM running", windows
    debian = unique("deb")
    az.json("vm", "create", "-g", GROUP, "-n", debian, "--image", "Debian12",
            "--admin-username", "azureuser", "--admin-password", PASSWORD)
    shown = az.json("vm", "show", "-g", GROUP, "-n", debian)
    assert shown["storageProfile"]["imageReference"]["offer"] == "debian-12"
    names = {vm["name"] for vm in az.json("vm", "list", "-g", GROUP)}
    assert {LINUX_VM, debian} <= names, names
    assert az.json("vm", "list", "-g", GROUP, "--query", "[?storageProfile.osDisk.osType=='Windows'].name")


def test_the_vm_az_made_is_backed_up(az, service):
    service.start_vm(GROUP, LINUX_VM, LOCATION)
    az.run("backup", "vault", "create", "-g", GROUP, "-n", VAULT, "-l", LOCATION)
    job = az.json("backup", "protection", "enable-for-vm", "-g", GROUP, "-v", VAULT, "--vm", LINUX_VM,
                  "--policy-name", "DefaultPolicy")
    assert job["properties"]["status"] == "Completed", job
    points = backup_completes(az)
    assert len(points) == 1, points


def test_a_deallocated_vm_is_backed_up_host_side_and_starts_again(az):
    az.run("vm", "deallocate", "-g", GROUP, "-n", LINUX_VM)
    shown = az.json("vm", "show", "-d", "-g", GROUP, "-n", LINUX_VM)
    assert shown["powerState"] == "VM deallocated", shown
    # No agent runs in a deallocated VM: the snapshot is the service's, crash-consistent.
    points = backup_completes(az)
    kinds = sorted(p["properties"]["recoveryPointType"] for p in points)
    assert len(kinds) == 2 and "CrashConsistent" in kinds, kinds

    error = az.fails("vm", "restart", "-g", GROUP, "-n", LINUX_VM)
    assert "OperationNotAllowed" in error, error
    az.run("vm", "start", "-g", GROUP, "-n", LINUX_VM)
    assert az.json("vm", "show", "-d", "-g", GROUP, "-n", LINUX_VM)["powerState"] == "VM running"
    az.run("vm", "stop", "-g", GROUP, "-n", LINUX_VM)
    view = az.json("vm", "get-instance-view", "-g", GROUP, "-n", LINUX_VM)
    codes = [s["code"] for s in view["instanceView"]["statuses"]]
    assert "PowerState/stopped" in codes, codes
    az.run("vm", "start", "-g", GROUP, "-n", LINUX_VM)
    az.run("vm", "restart", "-g", GROUP, "-n", LINUX_VM)
    assert az.json("vm", "show", "-d", "-g", GROUP, "-n", LINUX_VM)["powerState"] == "VM running"


def test_a_vm_is_deleted(az):
    debian = [vm["name"] for vm in az.json("vm", "list", "-g", GROUP) if vm["name"].startswith("deb")][0]
    az.run("vm", "delete", "-g", GROUP, "-n", debian, "--yes")
    error = az.fails("vm", "show", "-g", GROUP, "-n", debian)
    assert "ResourceNotFound" in error, error
