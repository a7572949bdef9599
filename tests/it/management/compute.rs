//! Resource groups and virtual machines (Microsoft.Resources, Microsoft.Compute): what ARM
//! clients see, and the page blobs behind the disks.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vaultsim::resources::compute::{upsert_extension, Extension};

use super::app::{ArmResponse, ManagementApp};
use crate::helpers::BlobClient;

const GIB: u64 = 1 << 30;

impl ManagementApp {
    pub async fn put_group(&self, group: &str, location: &str) -> ArmResponse {
        self.put(&self.group_path(group), json!({ "location": location }))
            .await
    }

    pub async fn get_group(&self, group: &str) -> ArmResponse {
        self.get(&self.group_path(group)).await
    }

    pub async fn list_groups(&self) -> ArmResponse {
        self.get(&format!("{}/resourcegroups", self.subscription_path()))
            .await
    }

    pub async fn put_vm(&self, group: &str, vm: &str, body: Value) -> ArmResponse {
        self.put(&self.vm_path(group, vm), body).await
    }

    pub async fn get_vm(&self, group: &str, vm: &str) -> ArmResponse {
        self.get(&self.vm_path(group, vm)).await
    }

    pub async fn delete_vm(&self, group: &str, vm: &str) -> ArmResponse {
        self.delete(&self.vm_path(group, vm)).await
    }

    pub async fn list_vms_in_group(&self, group: &str) -> ArmResponse {
        self.get(&format!(
            "{}/providers/Microsoft.Compute/virtualMachines",
            self.group_path(group)
        ))
        .await
    }

    pub async fn list_vms_in_subscription(&self) -> ArmResponse {
        self.get(&format!(
            "{}/providers/Microsoft.Compute/virtualMachines",
            self.subscription_path()
        ))
        .await
    }

    /// `action`: `start`, `powerOff`, `deallocate` or `restart`.
    pub async fn power_vm(&self, group: &str, vm: &str, action: &str) -> ArmResponse {
        self.post(&format!("{}/{action}", self.vm_path(group, vm)), None)
            .await
    }

    pub async fn get_vm_instance_view(&self, group: &str, vm: &str) -> ArmResponse {
        self.get(&format!("{}/instanceView", self.vm_path(group, vm)))
            .await
    }

    pub async fn list_vm_extensions(&self, group: &str, vm: &str) -> ArmResponse {
        self.get(&format!("{}/extensions", self.vm_path(group, vm)))
            .await
    }

    pub async fn get_vm_extension(&self, group: &str, vm: &str, extension: &str) -> ArmResponse {
        self.get(&format!(
            "{}/extensions/{extension}",
            self.vm_path(group, vm)
        ))
        .await
    }

    /// A VM PUT body as azure-mgmt-compute sends it: `os_type` `"Linux"` or `"Windows"`,
    /// default OS disk size, one empty data disk per entry of `data_disks_gb` (LUNs 0, 1...).
    pub fn vm_body(os_type: &str, location: &str, data_disks_gb: &[u64]) -> Value {
        let configuration = if os_type.eq_ignore_ascii_case("windows") {
            json!({ "windowsConfiguration": { "provisionVMAgent": true } })
        } else {
            json!({ "linuxConfiguration": { "disablePasswordAuthentication": false } })
        };
        let mut os_profile = json!({
            "adminUsername": "azureuser",
            "adminPassword": "Secret-P@ssw0rd-1",
        });
        os_profile
            .as_object_mut()
            .unwrap()
            .extend(configuration.as_object().unwrap().clone());
        json!({
            "location": location,
            "properties": {
                "hardwareProfile": { "vmSize": "Standard_D2s_v3" },
                "storageProfile": {
                    "imageReference": {
                        "publisher": "Canonical",
                        "offer": "0001-com-ubuntu-server-jammy",
                        "sku": "22_04-lts-gen2",
                        "version": "latest"
                    },
                    "osDisk": {
                        "osType": os_type,
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": { "storageAccountType": "Premium_LRS" }
                    },
                    "dataDisks": data_disks_gb.iter().enumerate().map(|(lun, gb)| json!({
                        "lun": lun,
                        "diskSizeGB": gb,
                        "createOption": "Empty",
                    })).collect::<Vec<_>>(),
                },
                "osProfile": os_profile,
                "networkProfile": { "networkInterfaces": [] },
            }
        })
    }

    /// Creates `group` in `location` (if needed) and a Linux VM with one 32 GB data disk.
    pub async fn create_vm(&self, group: &str, vm: &str, location: &str) -> ArmResponse {
        let created = self.put_group(group, location).await;
        assert!(
            created.status == StatusCode::CREATED || created.status == StatusCode::OK,
            "{created:?}"
        );
        self.put_vm(group, vm, Self::vm_body("Linux", location, &[32]))
            .await
    }
}

// ---- what the blob endpoint shows ----

/// The size of a blob, `None` when it does not exist.
async fn blob_size(app: &ManagementApp, container: &str, blob: &str) -> Option<u64> {
    let response = BlobClient::new(app.blob_addr)
        .send(
            Method::HEAD,
            &format!("/{container}/{blob}"),
            "",
            &[],
            vec![],
        )
        .await;
    match response.status() {
        StatusCode::OK => {
            assert_eq!(response.headers()["x-ms-blob-type"], "PageBlob");
            Some(
                response.headers()["content-length"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            )
        }
        StatusCode::NOT_FOUND => None,
        other => panic!("HEAD {container}/{blob}: {other}"),
    }
}

/// The names of the blob containers that hold VM disks.
async fn vm_containers(app: &ManagementApp) -> Vec<String> {
    let response = BlobClient::new(app.blob_addr)
        .send(Method::GET, "/", "comp=list", &[], vec![])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.unwrap();
    xml.split("<Name>")
        .skip(1)
        .filter_map(|s| s.split_once("</Name>").map(|(name, _)| name.to_owned()))
        .filter(|name| name.starts_with("vm-"))
        .collect()
}

fn container_of(vm: &Value) -> String {
    format!(
        "vm-{}",
        vm["properties"]["vmId"].as_str().unwrap().replace('-', "")
    )
}

fn names(list: &ArmResponse) -> Vec<&str> {
    list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

fn data_disks(vm: &Value) -> Vec<(u64, &str, u64)> {
    vm["properties"]["storageProfile"]["dataDisks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["lun"].as_u64().unwrap(),
                d["name"].as_str().unwrap(),
                d["diskSizeGB"].as_u64().unwrap(),
            )
        })
        .collect()
}

// ---- resource groups ----

async fn resource_groups_are_created_updated_read_and_listed(app: ManagementApp) {
    let sub = app.credentials.subscription_id.clone();
    let created = app.put_group("MyGroup", "West Europe").await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(
        created.body,
        json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/MyGroup"),
            "name": "MyGroup",
            "type": "Microsoft.Resources/resourceGroups",
            "location": "westeurope",
            "properties": { "provisioningState": "Succeeded" }
        })
    );

    // Same location spelled another way, another name case, tags: an update.
    let updated = app
        .put(
            &app.group_path("mygroup"),
            json!({ "location": "westeurope", "tags": { "env": "test" } }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["name"], "MyGroup");
    assert_eq!(updated.body["tags"], json!({ "env": "test" }));

    let read = app.get_group("MYGROUP").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.body["id"],
        format!("/subscriptions/{sub}/resourceGroups/MyGroup")
    );
    assert_eq!(read.body["tags"], json!({ "env": "test" }));

    assert_eq!(
        app.put_group("another", "eastus").await.status,
        StatusCode::CREATED
    );
    let list = app.list_groups().await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(names(&list), ["another", "MyGroup"]);
    assert!(list.body.get("nextLink").is_none());

    let missing = app.get_group("nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceGroupNotFound");
}

async fn a_resource_group_keeps_its_location(app: ManagementApp) {
    assert_eq!(
        app.put_group("rg", "westeurope").await.status,
        StatusCode::CREATED
    );
    let moved = app.put_group("rg", "East US").await;
    assert_eq!(moved.status, StatusCode::CONFLICT);
    assert_eq!(moved.error_code(), "InvalidResourceGroupLocation");
    assert_eq!(
        moved.body["error"]["message"],
        "Invalid resource group location 'eastus'. The Resource group already exists in \
         location 'westeurope'."
    );
    assert_eq!(app.get_group("rg").await.body["location"], "westeurope");
}

async fn bad_resource_group_requests_are_refused(app: ManagementApp) {
    for name in ["bad%20name", "ends.", "semi%3Bcolon", &"x".repeat(91)] {
        let refused = app.put_group(name, "westeurope").await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(refused.error_code(), "InvalidResourceGroupName", "{name}");
    }
    let no_location = app.put(&app.group_path("rg"), json!({})).await;
    assert_eq!(no_location.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_location.error_code(), "LocationRequired");
    for body in [
        json!({ "location": 5 }),
        json!({ "location": "west/europe" }),
    ] {
        let refused = app.put(&app.group_path("rg"), body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.error_code(), "InvalidRequestContent");
    }
    assert_eq!(names(&app.list_groups().await), Vec::<&str>::new());
}

// ---- virtual machines ----

async fn a_created_vm_reads_back_as_arm_shapes_it_with_its_disks_as_page_blobs(app: ManagementApp) {
    let sub = app.credentials.subscription_id.clone();
    let created = app.create_vm("Rg1", "vm1", "West Europe").await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let read = app.get_vm("Rg1", "vm1").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.body, created.body,
        "PUT answers the VM as GET returns it"
    );
    let vm = &read.body;
    assert!(
        !vm.to_string().contains("Secret-P@ssw0rd-1"),
        "the admin password is never returned"
    );
    let vm_id = vm["properties"]["vmId"].as_str().unwrap();
    uuid::Uuid::parse_str(vm_id).unwrap();
    let group_id = format!("/subscriptions/{sub}/resourceGroups/Rg1");
    let os_disk_name = format!("vm1_OsDisk_1_{}", vm_id.replace('-', ""));
    assert_eq!(
        vm["id"],
        format!("{group_id}/providers/Microsoft.Compute/virtualMachines/vm1")
    );
    assert_eq!(vm["name"], "vm1");
    assert_eq!(vm["type"], "Microsoft.Compute/virtualMachines");
    assert_eq!(vm["location"], "westeurope");
    assert_eq!(vm["tags"], json!({}));
    assert_eq!(vm["resources"], json!([]));
    let properties = &vm["properties"];
    assert_eq!(properties["provisioningState"], "Succeeded");
    assert_eq!(properties["hardwareProfile"]["vmSize"], "Standard_D2s_v3");
    chrono::DateTime::parse_from_rfc3339(properties["timeCreated"].as_str().unwrap()).unwrap();
    assert_eq!(
        properties["storageProfile"]["osDisk"],
        json!({
            "osType": "Linux",
            "name": os_disk_name,
            "createOption": "FromImage",
            "diskSizeGB": 30,
            "caching": "ReadWrite",
            "managedDisk": {
                "id": format!("{group_id}/providers/Microsoft.Compute/disks/{os_disk_name}"),
                "storageAccountType": "Premium_LRS"
            }
        })
    );
    assert_eq!(
        properties["storageProfile"]["dataDisks"],
        json!([{
            "lun": 0,
            "name": "vm1_DataDisk_0",
            "createOption": "Empty",
            "diskSizeGB": 32,
            "caching": "None",
            "managedDisk": {
                "id": format!("{group_id}/providers/Microsoft.Compute/disks/vm1_DataDisk_0"),
                "storageAccountType": "Premium_LRS"
            }
        }])
    );
    assert_eq!(
        properties["osProfile"],
        json!({
            "computerName": "vm1",
            "adminUsername": "azureuser",
            "linuxConfiguration": { "disablePasswordAuthentication": false }
        })
    );

    let container = container_of(vm);
    assert_eq!(vm_containers(&app).await, std::slice::from_ref(&container));
    assert_eq!(
        blob_size(&app, &container, "osdisk.vhd").await,
        Some(30 * GIB)
    );
    assert_eq!(
        blob_size(&app, &container, "datadisk-0.vhd").await,
        Some(32 * GIB)
    );
}

async fn the_os_type_and_disk_sizes_follow_arm_defaults(app: ManagementApp) {
    app.put_group("rg", "eastus").await;
    // No osType: the Windows configuration says it; the OS disk defaults to 127 GB.
    let mut body = ManagementApp::vm_body("Windows", "eastus", &[]);
    body["properties"]["storageProfile"]["osDisk"]
        .as_object_mut()
        .unwrap()
        .remove("osType");
    let created = app.put_vm("rg", "win-server-2022-01", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let os_disk = &created.body["properties"]["storageProfile"]["osDisk"];
    assert_eq!(os_disk["osType"], "Windows");
    assert_eq!(os_disk["diskSizeGB"], 127);
    assert_eq!(
        created.body["properties"]["osProfile"]["computerName"], "win-server-2022",
        "a Windows computer name is at most 15 characters"
    );
    assert_eq!(
        blob_size(&app, &container_of(&created.body), "osdisk.vhd").await,
        Some(127 * GIB)
    );

    // A minimal body: no profile at all but the OS type.
    let minimal = app
        .put_vm(
            "rg",
            "tiny",
            json!({ "location": "eastus", "properties": { "storageProfile": {
                "osDisk": { "osType": "linux", "diskSizeGB": 4 } } } }),
        )
        .await;
    assert_eq!(minimal.status, StatusCode::CREATED, "{minimal:?}");
    assert_eq!(
        minimal.body["properties"]["storageProfile"]["osDisk"]["osType"],
        "Linux"
    );
    assert!(minimal.body["properties"].get("osProfile").is_none());
    assert_eq!(
        blob_size(&app, &container_of(&minimal.body), "osdisk.vhd").await,
        Some(4 * GIB)
    );
}

async fn vms_are_listed_per_group_and_per_subscription(app: ManagementApp) {
    app.create_vm("rg-a", "b-vm", "westeurope").await;
    app.create_vm("rg-a", "a-vm", "westeurope").await;
    app.create_vm("rg-b", "c-vm", "eastus").await;
    app.put_group("empty", "eastus").await;

    let in_a = app.list_vms_in_group("RG-A").await;
    assert_eq!(in_a.status, StatusCode::OK);
    assert_eq!(names(&in_a), ["a-vm", "b-vm"]);
    // A list has each VM as a GET shows it, without its extensions (`resources`), as Azure.
    let mut shown = app.get_vm("rg-a", "a-vm").await.body;
    assert_eq!(shown["resources"], json!([]));
    shown.as_object_mut().unwrap().remove("resources");
    assert_eq!(in_a.body["value"][0], shown);
    assert_eq!(
        names(&app.list_vms_in_group("empty").await),
        Vec::<&str>::new()
    );

    let all = app.list_vms_in_subscription().await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(names(&all), ["a-vm", "b-vm", "c-vm"]);
    assert!(all.body.get("nextLink").is_none());

    let missing = app.list_vms_in_group("nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceGroupNotFound");
}

async fn an_update_adds_grows_and_detaches_disks(app: ManagementApp) {
    let created = app.create_vm("rg", "vm1", "westeurope").await;
    let vm_id = created.body["properties"]["vmId"].clone();
    let container = container_of(&created.body);

    // Grow LUN 0 from 32 to 64 GB, add LUN 1, change size and tags.
    let mut body = ManagementApp::vm_body("Linux", "westeurope", &[64, 16]);
    body["tags"] = json!({ "env": "prod" });
    body["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_D4s_v3");
    let updated = app.put_vm("rg", "vm1", body).await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    let read = app.get_vm("rg", "vm1").await;
    assert_eq!(read.body, updated.body);
    assert_eq!(read.body["properties"]["vmId"], vm_id);
    assert_eq!(read.body["tags"], json!({ "env": "prod" }));
    assert_eq!(
        read.body["properties"]["hardwareProfile"]["vmSize"],
        "Standard_D4s_v3"
    );
    assert_eq!(
        data_disks(&read.body),
        [(0, "vm1_DataDisk_0", 64), (1, "vm1_DataDisk_1", 16)]
    );
    assert_eq!(
        blob_size(&app, &container, "datadisk-0.vhd").await,
        Some(64 * GIB)
    );
    assert_eq!(
        blob_size(&app, &container, "datadisk-1.vhd").await,
        Some(16 * GIB)
    );
    assert_eq!(
        blob_size(&app, &container, "osdisk.vhd").await,
        Some(30 * GIB)
    );

    // Leaving LUN 0 out detaches it: its blob goes.
    let mut body = ManagementApp::vm_body("Linux", "westeurope", &[]);
    body["properties"]["storageProfile"]["dataDisks"] =
        json!([{ "lun": 1, "diskSizeGB": 16, "createOption": "Empty" }]);
    let detached = app.put_vm("rg", "vm1", body).await;
    assert_eq!(detached.status, StatusCode::OK, "{detached:?}");
    assert_eq!(data_disks(&detached.body), [(1, "vm1_DataDisk_1", 16)]);
    assert_eq!(blob_size(&app, &container, "datadisk-0.vhd").await, None);
    assert_eq!(
        blob_size(&app, &container, "datadisk-1.vhd").await,
        Some(16 * GIB)
    );
}

async fn concurrent_puts_of_a_new_vm_make_one_vm(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let body = ManagementApp::vm_body("Linux", "westeurope", &[8]);
    let (a, b) = tokio::join!(
        app.put_vm("rg", "vm1", body.clone()),
        app.put_vm("rg", "VM1", body.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{a:?} {b:?}"
    );
    assert_eq!(a.body["properties"]["vmId"], b.body["properties"]["vmId"]);
    assert_eq!(vm_containers(&app).await, [container_of(&a.body)]);
    // Whichever PUT won named it.
    let listed = app.list_vms_in_group("rg").await;
    assert!(
        matches!(names(&listed)[..], [name] if name.eq_ignore_ascii_case("vm1")),
        "{listed:?}"
    );
}

async fn shrinking_a_disk_or_changing_the_os_is_refused_and_changes_nothing(app: ManagementApp) {
    let created = app.create_vm("rg", "vm1", "westeurope").await;
    let container = container_of(&created.body);

    // Add LUN 1 while shrinking LUN 0: refused as a whole.
    let shrink = app
        .put_vm(
            "rg",
            "vm1",
            ManagementApp::vm_body("Linux", "westeurope", &[16, 8]),
        )
        .await;
    assert_eq!(shrink.status, StatusCode::CONFLICT);
    assert_eq!(shrink.error_code(), "OperationNotAllowed");
    let message = shrink.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("dataDisks[0].diskSizeGB") && message.contains("32 GB"),
        "{message}"
    );

    let windows = app
        .put_vm(
            "rg",
            "vm1",
            ManagementApp::vm_body("Windows", "westeurope", &[32]),
        )
        .await;
    assert_eq!(windows.status, StatusCode::CONFLICT);
    assert_eq!(windows.error_code(), "PropertyChangeNotAllowed");

    let moved = app
        .put_vm(
            "rg",
            "vm1",
            ManagementApp::vm_body("Linux", "eastus", &[32]),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT);
    assert_eq!(moved.error_code(), "PropertyChangeNotAllowed");

    assert_eq!(app.get_vm("rg", "vm1").await.body, created.body);
    assert_eq!(
        blob_size(&app, &container, "datadisk-0.vhd").await,
        Some(32 * GIB)
    );
    assert_eq!(blob_size(&app, &container, "datadisk-1.vhd").await, None);
}

async fn invalid_vms_are_refused_and_leave_nothing_behind(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let body = |data_disks: Value| {
        let mut body = ManagementApp::vm_body("Linux", "westeurope", &[]);
        body["properties"]["storageProfile"]["dataDisks"] = data_disks;
        body
    };
    let mut no_os_type = ManagementApp::vm_body("Linux", "westeurope", &[]);
    no_os_type["properties"]["storageProfile"]["osDisk"]
        .as_object_mut()
        .unwrap()
        .remove("osType");
    no_os_type["properties"]
        .as_object_mut()
        .unwrap()
        .remove("osProfile");
    // Nothing says the OS: a platform image would.
    no_os_type["properties"]["storageProfile"]
        .as_object_mut()
        .unwrap()
        .remove("imageReference");
    let mut no_location = ManagementApp::vm_body("Linux", "westeurope", &[]);
    no_location.as_object_mut().unwrap().remove("location");
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "vm",
            ManagementApp::vm_body("Linux", "westeurope", &[8193]),
            "InvalidParameter",
            "dataDisks[0].diskSizeGB",
        ),
        (
            "vm",
            body(json!([{ "lun": 64, "diskSizeGB": 1 }])),
            "InvalidParameter",
            "dataDisks[0].lun",
        ),
        (
            "vm",
            body(json!([{ "lun": 3, "diskSizeGB": 1 }, { "lun": 3, "diskSizeGB": 2 }])),
            "InvalidParameter",
            "dataDisks[1].lun",
        ),
        (
            "vm",
            body(json!((0..33)
                .map(|lun| json!({ "lun": lun, "diskSizeGB": 1 }))
                .collect::<Vec<_>>())),
            "InvalidParameter",
            "at most 32",
        ),
        (
            "vm",
            body(json!([{ "lun": 0 }])),
            "InvalidParameter",
            "dataDisks[0].diskSizeGB is required",
        ),
        ("vm", no_os_type, "InvalidParameter", "osDisk.osType"),
        ("vm", no_location, "LocationRequired", "location"),
        (
            "_vm",
            ManagementApp::vm_body("Linux", "westeurope", &[]),
            "InvalidParameter",
            "'_vm'",
        ),
        (
            "a.",
            ManagementApp::vm_body("Linux", "westeurope", &[]),
            "InvalidParameter",
            "'a.'",
        ),
        (
            "vm-",
            ManagementApp::vm_body("Linux", "westeurope", &[]),
            "InvalidParameter",
            "'vm-'",
        ),
        (
            "vm",
            json!({ "location": "westeurope", "properties": { "storageProfile": {
                "osDisk": { "osType": "Linux", "diskSizeGB": "big" } } } }),
            "InvalidRequestContent",
            "",
        ),
    ];
    for (name, body, code, text) in cases {
        let refused = app.put_vm("rg", name, body).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{text}: {refused:?}"
        );
        assert_eq!(refused.error_code(), code, "{text}");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(text), "{text}: {message}");
        assert_eq!(
            app.get_vm("rg", name).await.error_code(),
            "ResourceNotFound"
        );
    }
    assert_eq!(
        names(&app.list_vms_in_subscription().await),
        Vec::<&str>::new()
    );
    assert_eq!(vm_containers(&app).await, Vec::<String>::new());
}

/// Makes the database refuse a disk row named `poison`: the write fails after the blobs
/// were made, as a lost database connection would.
async fn poison_disk_rows(app: &ManagementApp) {
    use sqlx::Executor;
    let db = app.db().await;
    let sql = match db.backend() {
        vaultsim::store::Backend::Sqlite => {
            "create trigger poison_disk before insert on vm_disk when new.name = 'poison' \
             begin select raise(abort, 'poisoned disk row'); end"
        }
        vaultsim::store::Backend::Postgres => {
            "create function poison_disk() returns trigger language plpgsql as $$ begin \
             if new.name = 'poison' then raise exception 'poisoned disk row'; end if; \
             return new; end $$; \
             create trigger poison_disk before insert on vm_disk for each row \
             execute function poison_disk();"
        }
    };
    db.pool().execute(sql).await.unwrap();
}

async fn a_database_failure_after_the_blobs_were_made_undoes_them(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    poison_disk_rows(&app).await;
    let poisoned = |sizes: &[u64]| {
        let mut body = ManagementApp::vm_body("Linux", "westeurope", sizes);
        let disks = body["properties"]["storageProfile"]["dataDisks"]
            .as_array_mut()
            .unwrap();
        disks.last_mut().unwrap()["name"] = json!("poison");
        body
    };

    // Create: the OS disk's row is written, the data disk's fails.
    let failed = app.put_vm("rg", "vm1", poisoned(&[8])).await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{failed:?}"
    );
    assert_eq!(failed.error_code(), "InternalServerError");
    assert_eq!(
        app.get_vm("rg", "vm1").await.error_code(),
        "ResourceNotFound"
    );
    assert_eq!(vm_containers(&app).await, Vec::<String>::new());

    // Update: LUN 0 grows, LUN 1 is created, then its row fails.
    let created = app.create_vm("rg", "vm1", "westeurope").await;
    let container = container_of(&created.body);
    let failed = app.put_vm("rg", "vm1", poisoned(&[64, 8])).await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{failed:?}"
    );
    assert_eq!(app.get_vm("rg", "vm1").await.body, created.body);
    assert_eq!(
        blob_size(&app, &container, "datadisk-0.vhd").await,
        Some(32 * GIB)
    );
    assert_eq!(blob_size(&app, &container, "datadisk-1.vhd").await, None);
}

async fn a_vm_needs_an_existing_group(app: ManagementApp) {
    let refused = app
        .put_vm(
            "nope",
            "vm1",
            ManagementApp::vm_body("Linux", "westeurope", &[1]),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.error_code(), "ResourceGroupNotFound");
    assert_eq!(vm_containers(&app).await, Vec::<String>::new());
    let missing = app.get_vm("nope", "vm1").await;
    assert_eq!(missing.error_code(), "ResourceGroupNotFound");
}

async fn disk_names_are_unique_within_a_group(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let named = |disk: &str| {
        let mut body = ManagementApp::vm_body("Linux", "westeurope", &[]);
        body["properties"]["storageProfile"]["dataDisks"] =
            json!([{ "lun": 0, "name": disk, "diskSizeGB": 1 }]);
        body
    };
    assert_eq!(
        app.put_vm("rg", "vm1", named("shared")).await.status,
        StatusCode::CREATED
    );
    let taken = app.put_vm("rg", "vm2", named("SHARED")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error_code(), "OperationNotAllowed");
    assert!(taken.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("vm1"));
    assert_eq!(vm_containers(&app).await.len(), 1);
}

async fn deleting_a_vm_deletes_its_disk_blobs(app: ManagementApp) {
    let created = app.create_vm("rg", "vm1", "westeurope").await;
    app.create_vm("rg", "vm2", "westeurope").await;
    let container = container_of(&created.body);

    let deleted = app.delete_vm("rg", "VM1").await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        app.get_vm("rg", "vm1").await.error_code(),
        "ResourceNotFound"
    );
    assert_eq!(blob_size(&app, &container, "osdisk.vhd").await, None);
    assert!(!vm_containers(&app).await.contains(&container));
    assert_eq!(vm_containers(&app).await.len(), 1, "vm2's disks stay");
    assert_eq!(names(&app.list_vms_in_group("rg").await), ["vm2"]);

    assert_eq!(
        app.delete_vm("rg", "vm1").await.status,
        StatusCode::NO_CONTENT
    );
    let no_group = app.delete_vm("nope", "vm1").await;
    assert_eq!(no_group.status, StatusCode::NOT_FOUND);
    assert_eq!(no_group.error_code(), "ResourceGroupNotFound");

    // The name can be used again: a new VM with a new vmId.
    let again = app.create_vm("rg", "vm1", "westeurope").await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(
        again.body["properties"]["vmId"],
        created.body["properties"]["vmId"]
    );
}

async fn extensions_show_in_the_list_the_get_and_the_vms_resources(app: ManagementApp) {
    let created = app.create_vm("rg", "vm1", "westeurope").await;
    let vm_arm_id = created.body["id"].as_str().unwrap().to_owned();
    let empty = app.list_vm_extensions("rg", "vm1").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!({ "value": [] }));
    let missing = app.get_vm_extension("rg", "vm1", "VMSnapshotLinux").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "NotFound");
    assert_eq!(
        missing.body["error"]["message"],
        "The entity was not found in this Azure location."
    );

    let db = app.db().await;
    let vm_id = created.body["properties"]["vmId"].as_str().unwrap();
    let extension = Extension {
        name: "VMSnapshotLinux".to_owned(),
        publisher: "Microsoft.Azure.RecoveryServices".to_owned(),
        extension_type: "VMSnapshotLinux".to_owned(),
        type_handler_version: "1.0".to_owned(),
        auto_upgrade_minor_version: true,
        enable_automatic_upgrade: false,
        suppress_failures: false,
        force_update_tag: None,
        provisioning_state: "Succeeded".to_owned(),
        settings: None,
        handler_status: None,
        handler_heartbeat: None,
        updated_at: Utc::now(),
    };
    upsert_extension(&db, vm_id, &extension).await.unwrap();
    // Upserting again replaces it.
    upsert_extension(
        &db,
        vm_id,
        &Extension {
            settings: Some(json!({ "locale": "en-us" })),
            ..extension
        },
    )
    .await
    .unwrap();

    let expected = json!({
        "id": format!("{vm_arm_id}/extensions/VMSnapshotLinux"),
        "name": "VMSnapshotLinux",
        "type": "Microsoft.Compute/virtualMachines/extensions",
        "location": "westeurope",
        "properties": {
            "publisher": "Microsoft.Azure.RecoveryServices",
            "type": "VMSnapshotLinux",
            "typeHandlerVersion": "1.0",
            "autoUpgradeMinorVersion": true,
            "provisioningState": "Succeeded",
            "settings": { "locale": "en-us" }
        }
    });
    let list = app.list_vm_extensions("rg", "vm1").await;
    assert_eq!(list.body, json!({ "value": [expected.clone()] }));
    let one = app.get_vm_extension("rg", "vm1", "vmsnapshotlinux").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, expected);
    assert_eq!(
        app.get_vm("rg", "vm1").await.body["resources"],
        json!([expected])
    );

    let no_vm = app.list_vm_extensions("rg", "vm2").await;
    assert_eq!(no_vm.status, StatusCode::NOT_FOUND);
    assert_eq!(no_vm.error_code(), "ResourceNotFound");
    assert_eq!(
        app.get_vm_extension("rg", "vm2", "VMSnapshotLinux")
            .await
            .error_code(),
        "ResourceNotFound"
    );
}

async fn paths_are_case_insensitive_and_names_come_back_as_created(app: ManagementApp) {
    let created = app.create_vm("MixedCase-RG", "MyVm", "westeurope").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let sub = &app.credentials.subscription_id;
    let shouting = format!(
        "/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/MIXEDCASE-RG/PROVIDERS/MICROSOFT.COMPUTE/\
         VIRTUALMACHINES/MYVM"
    );
    let read = app.get(&shouting).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created.body);
    assert_eq!(read.body["name"], "MyVm");
    assert_eq!(
        read.body["id"],
        format!(
            "/subscriptions/{sub}/resourceGroups/MixedCase-RG/providers/Microsoft.Compute/\
             virtualMachines/MyVm"
        )
    );
    let extensions = app.get(&format!("{shouting}/EXTENSIONS")).await;
    assert_eq!(extensions.status, StatusCode::OK);

    // A PUT in another case updates the same VM.
    let updated = app
        .put_vm(
            "mixedcase-rg",
            "myvm",
            ManagementApp::vm_body("Linux", "westeurope", &[32]),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["name"], "MyVm");
    assert_eq!(
        updated.body["properties"]["vmId"],
        created.body["properties"]["vmId"]
    );
    assert_eq!(names(&app.list_vms_in_subscription().await), ["MyVm"]);
    assert_eq!(
        names(&app.list_vms_in_group("MIXEDCASE-RG").await),
        ["MyVm"]
    );
}

crate::on_both_backends!(
    resource_groups_are_created_updated_read_and_listed,
    a_resource_group_keeps_its_location,
    bad_resource_group_requests_are_refused,
    a_created_vm_reads_back_as_arm_shapes_it_with_its_disks_as_page_blobs,
    the_os_type_and_disk_sizes_follow_arm_defaults,
    vms_are_listed_per_group_and_per_subscription,
    an_update_adds_grows_and_detaches_disks,
    concurrent_puts_of_a_new_vm_make_one_vm,
    shrinking_a_disk_or_changing_the_os_is_refused_and_changes_nothing,
    invalid_vms_are_refused_and_leave_nothing_behind,
    a_vm_needs_an_existing_group,
    a_database_failure_after_the_blobs_were_made_undoes_them,
    disk_names_are_unique_within_a_group,
    deleting_a_vm_deletes_its_disk_blobs,
    extensions_show_in_the_list_the_get_and_the_vms_resources,
    paths_are_case_insensitive_and_names_come_back_as_created,
);
