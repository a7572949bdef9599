"""A minimal VMSnapshotLinux task (vaultsim's spec/extension-protocol.md §2-§4, §8): decrypt
the protected settings with openssl cms, snapshot every disk through its SAS, then upload the
status blob and write the status file. No freeze, so every snapshot is crash-consistent
(code 1, snapshotConsistency 3). Standard library only; TLS trusts SSL_CERT_FILE."""
import base64, json, os, subprocess, sys, time, urllib.request

seq = sys.argv[1]
env = json.load(open("HandlerEnvironment.json"))[0]["handlerEnvironment"]
handler = json.load(open(os.path.join(env["configFolder"], seq + ".settings")))
handler = handler["runtimeSettings"][0]["handlerSettings"]
public = handler["publicSettings"]
thumb = os.path.join("..", handler["protectedSettingsCertThumbprint"])
protected = json.loads(subprocess.run(
    ["openssl", "cms", "-decrypt", "-inform", "DER", "-recip", thumb + ".crt", "-inkey", thumb + ".prv"],
    input=base64.b64decode(handler["protectedSettings"]), capture_output=True, check=True).stdout)
metadata = json.loads(base64.b64decode(public["objectStr"]))["backupMetadata"]
disks = json.loads(base64.b64decode(protected["objectStr"]))["blobSASUri"]


def call(method, url, headers, body=b""):
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    return urllib.request.urlopen(request, timeout=10)


snapshots = []
for uri in disks:
    meta = {"x-ms-meta-" + pair["Key"]: pair["Value"] for pair in metadata}
    try:
        taken = call("PUT", uri + "&comp=snapshot", meta).headers["x-ms-snapshot"]
        snapshot_uri, ok, error = uri.split("?")[0] + "?snapshot=" + taken, True, None
    except Exception as failure:  # the status names the disk that failed
        snapshot_uri, ok, error = uri.split("?")[0], False, str(failure)
    snapshots.append({"isSuccessful": ok, "snapshotUri": snapshot_uri, "errorMessage": error,
                      "blobUri": snapshot_uri.split("?")[0], "directDriveSnapshotIdentifier": None})

code = "1" if all(s["isSuccessful"] for s in snapshots) else "2"
status = {
    "name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "operation": "Enable",
    "status": "success" if code == "1" else "error", "substatus": [], "code": code,
    "taskId": public["taskId"],
    "formattedMessage": {"lang": "en-US", "message": json.dumps({
        "messageStr": "" if code == "1" else "snapshot failed", "snapshotConsistency": 3,
        "jobMessage": "", "isSizeComputationFailed": False})},
    "storageDetails": {"partitionCount": 0, "totalUsedSizeInBytes": 0,
                       "isStoragespacePresent": False, "isSizeComputationFailed": True},
    "commandStartTimeUTCTicks": public["commandStartTimeUTCTicks"],
    "telemetryData": [], "uniqueMachineId": "", "snapshotInfo": snapshots,
    "vmHealthInfo": {"vmHealthState": 0, "vmHealthStatusCode": int(code)},
}
blob = [{"version": "1.0", "timestampUTC": "/Date(%d)/" % (time.time() * 1000), "status": status}]
call("PUT", protected["statusBlobUri"], {"x-ms-blob-type": "BlockBlob"}, json.dumps(blob).encode())
local = [{"version": "1.0", "timestampUTC": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
          "status": dict(status, substatus=[{"code": "0", "name": json.dumps(blob[0]),
                                              "status": "success", "formattedMessage": None}])}]
temp = os.path.join(env["statusFolder"], "tempStatusFile.status")
with open(temp, "w") as out:
    json.dump(local, out)
os.rename(temp, os.path.join(env["statusFolder"], seq + ".status"))
