#!/bin/sh
# A deliberately naive backup extension, the sample for `vaultsim-agent harness`: enable
# snapshots every disk through its SAS and reports success. It leaves out what the real
# VMSnapshotLinux does besides, and the harness catches each omission:
#   no transitioning status (code 4) before the work        -> sequence-during-run, crash-mid-run,
#                                                              uninstall-during-run
#   no staleness check of commandStartTimeUTCTicks          -> stale-command
#   no record of the last taskId                            -> repeated-task, sequence-during-run
#   failed snapshots and uploads still reported as success,
#   the status blob written without reading it first        -> expired-sas, storage-throttled,
#                                                              status-blob-missing
#   no pre/post scripts                                     -> pre-script-missing, pre-script-failing
# Install, disable, update and uninstall have nothing to do.
[ "$1" = enable ] || exit 0
set -eu
seq=$ConfigSequenceNumber
exec python3 - "$(cd .. && pwd)" "config/$seq.settings" "status/$seq.status" <<'PY'
import base64, json, os, subprocess, sys, time, urllib.request
root, settings_file, status_file = sys.argv[1:]
handler = json.load(open(settings_file))["runtimeSettings"][0]["handlerSettings"]
public, thumb = handler["publicSettings"], handler["protectedSettingsCertThumbprint"]
protected = json.loads(subprocess.run(
    ["openssl", "cms", "-decrypt", "-inform", "DER", "-recip", f"{root}/{thumb}.crt",
     "-inkey", f"{root}/{thumb}.prv"],
    input=base64.b64decode(handler["protectedSettings"]), capture_output=True, check=True).stdout)
def put(url, headers, body=b""):
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers
    except OSError:
        return {}
snapshots = []
for sas in json.loads(base64.b64decode(protected["objectStr"]))["blobSASUri"]:
    blob = sas.split("?")[0]
    stamp = put(sas + "&comp=snapshot", {"Content-Length": "0"}).get("x-ms-snapshot", "")
    snapshots.append({"isSuccessful": True, "snapshotUri": f"{blob}?snapshot={stamp}",
                      "errorMessage": "", "blobUri": blob, "directDriveSnapshotIdentifier": None})
message = {"messageStr": "", "snapshotConsistency": 0, "jobMessage": "", "isSizeComputationFailed": True}
status = {"name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "operation": "Enable",
          "status": "success", "substatus": [], "code": "1", "taskId": public["taskId"],
          "formattedMessage": {"lang": "en-US", "message": json.dumps(message)},
          "storageDetails": {"partitionCount": 0, "totalUsedSizeInBytes": 0,
                             "isStoragespacePresent": False, "isSizeComputationFailed": True},
          "commandStartTimeUTCTicks": public["commandStartTimeUTCTicks"], "telemetryData": [],
          "uniqueMachineId": "", "snapshotInfo": snapshots,
          "vmHealthInfo": {"vmHealthState": 0, "vmHealthStatusCode": 1}}
entry = {"version": "1.0", "timestampUTC": "/Date(%d)/" % (time.time() * 1000), "status": status}
blob_text = json.dumps([entry]).replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"')
block = {"x-ms-blob-type": "BlockBlob"}
put(protected["logsBlobUri"], block, b"naive-vmsnapshot: took %d snapshots\n" % len(snapshots))
put(protected["statusBlobUri"], block, blob_text.encode())
entry["timestampUTC"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
entry["status"] = dict(status, snapshotInfo=None, telemetryData=None, vmHealthInfo=None,
    substatus=[{"code": "0", "name": blob_text, "status": "success", "formattedMessage": None}])
json.dump([entry], open(status_file + ".tmp", "w"))
os.replace(status_file + ".tmp", status_file)
PY
