"""Times ARM template deployments against `vaultsim serve` (the binary VAULTSIM_BIN): a
subscription deployment of N resource groups (copy loop) and a group deployment of M vaults
each with a policy (copy loops, dependsOn by id). Prints wall times."""
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "azure"))
sys.path.insert(0, str(ROOT / "tests" / "support"))
from conftest import Service  # noqa: E402
import requests  # noqa: E402

n_groups, n_vaults = int(sys.argv[1]), int(sys.argv[2])
data = Path(tempfile.mkdtemp(prefix="bench-deployments-"))
svc = Service(data)
base = svc.http
s = requests.Session(); s.trust_env = False
c = svc.credentials
tok = s.post(f"{base}/adfs/oauth2/token", data={"grant_type": "client_credentials", "client_id": c["clientId"],
    "client_secret": c["clientSecret"], "scope": "https://management.core.windows.net//.default"}).json()["access_token"]
s.headers["Authorization"] = "Bearer " + tok
sub = f"/subscriptions/{svc.subscription}"
V = "api-version=2024-11-01"
def run(path, body):
    t = time.monotonic()
    r = s.put(f"{base}{path}?{V}", json=body); assert r.status_code == 201, r.text
    status = r.headers["Azure-AsyncOperation"].split("127.0.0.1", 1)[1].split(":", 1)[1]
    status = status[status.index("/"):]
    while s.get(f"{base}{status}").json()["status"] == "Running":
        time.sleep(0.02)
    d = s.get(f"{base}{path}?{V}").json()
    assert d["properties"]["provisioningState"] == "Succeeded", json.dumps(d)[:2000]
    return time.monotonic() - t
groups = {"$schema": "x", "contentVersion": "1.0.0.0", "parameters": {"n": {"type": "int"}},
          "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01",
                         "name": "[concat('g', copyIndex())]", "location": "eastus",
                         "copy": {"name": "gs", "count": "[parameters('n')]"}}]}
t1 = run(f"{sub}/providers/Microsoft.Resources/deployments/groups",
         {"location": "eastus", "properties": {"template": groups, "parameters": {"n": {"value": n_groups}}, "mode": "Incremental"}})
vaults = {"$schema": "x", "contentVersion": "1.0.0.0", "parameters": {"n": {"type": "int"}},
  "resources": [
    {"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01", "name": "[concat('v', copyIndex())]",
     "location": "eastus", "sku": {"name": "RS0"}, "properties": {}, "copy": {"name": "vs", "count": "[parameters('n')]"}},
    {"type": "Microsoft.RecoveryServices/vaults/backupPolicies", "apiVersion": "2023-04-01",
     "name": "[concat('v', copyIndex(), '/daily')]", "copy": {"name": "ps", "count": "[parameters('n')]"},
     "dependsOn": ["[resourceId('Microsoft.RecoveryServices/vaults', concat('v', copyIndex()))]"],
     "properties": {"backupManagementType": "AzureIaasVM", "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy",
        "scheduleRunFrequency": "Daily", "scheduleRunTimes": ["2024-05-18T21:30:00Z"]},
        "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy", "dailySchedule": {
          "retentionTimes": ["2024-05-18T21:30:00Z"], "retentionDuration": {"count": 30, "durationType": "Days"}}}, "timeZone": "UTC"}}]}
s.put(f"{base}{sub}/resourceGroups/rg?{V}", json={"location": "eastus"})
t2 = run(f"{sub}/resourceGroups/rg/providers/Microsoft.Resources/deployments/vaults",
         {"properties": {"template": vaults, "parameters": {"n": {"value": n_vaults}}, "mode": "Incremental"}})
print(f"{n_groups} groups: {t1:.2f} s ({n_groups/t1:.0f}/s); {n_vaults} vaults + {n_vaults} policies: {t2:.2f} s ({2*n_vaults/t2:.0f} resources/s)")
svc.stop()
shutil.rmtree(data, ignore_errors=True)
