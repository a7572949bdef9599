"""ARM template deployments with the real `az`, as the Azure Backup docs recommend enabling
backup: `az deployment group validate|what-if|create|show`, the deployment's operations,
a template with loops and outputs at subscription scope, and the errors of bad templates.
The tests of this module run in order and build on each other."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import unique

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
BACKUP_TEMPLATE = str(TEMPLATES / "backup-existing-vms.json")
LOOPS_TEMPLATE = str(TEMPLATES / "groups-with-loops.json")

LOCATION = "eastus"
GROUP = unique("rg")
VAULT = unique("vault")
VMS = [unique("vm"), unique("vm")]
PARAMETERS = ["--parameters", f"vaultName={VAULT}", f"existingVirtualMachines={json.dumps(VMS)}"]


def test_the_quickstart_template_validates_and_what_if_lists_what_it_creates(az, service):
    az.run("group", "create", "-n", GROUP, "-l", LOCATION)
    for vm in VMS:
        service.start_vm(GROUP, vm, LOCATION)
    validated = az.json("deployment", "group", "validate", "-g", GROUP, "--template-file", BACKUP_TEMPLATE,
                        *PARAMETERS)
    assert validated["properties"]["provisioningState"] == "Succeeded"
    assert len(validated["properties"]["validatedResources"]) == 4
    what_if = az.json("deployment", "group", "what-if", "-g", GROUP, "--template-file", BACKUP_TEMPLATE,
                      *PARAMETERS, "--no-pretty-print")
    changes = {c["resourceId"].rsplit("/", 1)[-1]: c["changeType"] for c in what_if["changes"]}
    assert changes[VAULT] == "Create", changes
    assert changes["DailyPolicy"] == "Create", changes


def test_the_quickstart_template_deploys_a_vault_a_policy_and_protects_the_vms(az):
    deployment = az.json("deployment", "group", "create", "-g", GROUP, "-n", "enable-backup",
                         "--template-file", BACKUP_TEMPLATE, *PARAMETERS)
    properties = deployment["properties"]
    assert properties["provisioningState"] == "Succeeded", deployment
    assert properties["outputs"]["protectedCount"]["value"] == 2
    assert properties["outputs"]["vaultId"]["value"].endswith(f"/vaults/{VAULT}")
    shown = az.json("deployment", "group", "show", "-g", GROUP, "-n", "enable-backup")
    assert shown["properties"]["outputs"] == properties["outputs"]
    operations = az.json("deployment", "operation", "group", "list", "-g", GROUP, "-n", "enable-backup")
    assert len(operations) == 4
    assert {o["properties"]["provisioningState"] for o in operations} == {"Succeeded"}
    # What the template made is what `az backup` shows.
    items = az.json("backup", "item", "list", "-g", GROUP, "-v", VAULT)
    assert sorted(i["properties"]["friendlyName"].lower() for i in items) == sorted(v.lower() for v in VMS)
    assert {i["properties"]["policyName"] for i in items} == {"DailyPolicy"}
    listed = az.json("deployment", "group", "list", "-g", GROUP)
    assert [d["name"] for d in listed] == ["enable-backup"]


def test_a_protected_vm_of_the_template_is_backed_up(az):
    job = az.json("backup", "protection", "backup-now", "-g", GROUP, "-v", VAULT, "-c", VMS[0],
                  "-i", VMS[0], "--backup-management-type", "AzureIaasVM", "--workload-type", "VM")
    name = job["name"]
    az.run("backup", "job", "wait", "-g", GROUP, "-v", VAULT, "-n", name, "--timeout", "600")
    finished = az.json("backup", "job", "show", "-g", GROUP, "-v", VAULT, "-n", name)
    assert finished["properties"]["status"] == "Completed", finished


def test_a_subscription_template_with_loops_creates_groups_and_answers_outputs(az):
    prefix = unique("loop")
    deployment = az.json("deployment", "sub", "create", "-l", "westeurope", "-n", prefix,
                         "--template-file", LOOPS_TEMPLATE, "--parameters", f"prefix={prefix}",
                         "location=westeurope", "count=2")
    outputs = deployment["properties"]["outputs"]
    assert outputs["names"]["value"] == [f"{prefix}-0", f"{prefix}-1"]
    assert outputs["firstTags"]["value"]["owner"] == prefix
    assert outputs["oddGroups"]["value"] == [f"{prefix}-1".upper()]
    assert outputs["label"]["value"] == f"{prefix.upper()} x2"
    groups = {g["name"] for g in az.json("group", "list")}
    assert {f"{prefix}-0", f"{prefix}-1"} <= groups


def test_bad_templates_fail_with_the_codes_azure_gives(az, tmp_path):
    cycle = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01", "name": name,
             "location": LOCATION, "sku": {"name": "RS0"}, "properties": {}, "dependsOn": [other]}
            for name, other in (("a-vault", "b-vault"), ("b-vault", "a-vault"))
        ],
    }
    template = tmp_path / "cycle.json"
    template.write_text(json.dumps(cycle, indent=2))
    error = az.fails("deployment", "group", "validate", "-g", GROUP, "--template-file", str(template))
    assert "InvalidTemplate" in error and "Circular dependency" in error, error
    unserved = dict(cycle, resources=[{"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01",
                                       "name": "site", "location": LOCATION}])
    template.write_text(json.dumps(unserved))
    error = az.fails("deployment", "group", "create", "-g", GROUP, "--template-file", str(template))
    assert "InvalidTemplateDeployment" in error and "NoRegisteredProviderFound" in error, error
    missing = az.fails("deployment", "group", "validate", "-g", GROUP, "--template-file", BACKUP_TEMPLATE,
                       "--parameters", f"vaultName={VAULT}")
    assert "existingVirtualMachines" in missing, missing
