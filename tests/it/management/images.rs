//! The platform image catalogue over HTTP, as `az vm image list|show` and `az vm create
//! --image <alias>` read it, and VMs created from its images.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::management::app::{ArmResponse, ManagementApp};
use crate::on_both_backends;

impl ManagementApp {
    fn image_path(&self, location: &str, rest: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/locations/{location}/publishers{rest}",
            self.subscription_path()
        )
    }

    pub async fn list_image_publishers(&self, location: &str) -> ArmResponse {
        self.get(&self.image_path(location, "")).await
    }

    pub async fn list_image_versions(
        &self,
        location: &str,
        publisher: &str,
        offer: &str,
        sku: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}?$expand=properties&$top=1&$orderby=name%20desc",
            self.image_path(
                location,
                &format!("/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions")
            )
        ))
        .await
    }

    pub async fn get_image(
        &self,
        location: &str,
        publisher: &str,
        offer: &str,
        sku: &str,
        version: &str,
    ) -> ArmResponse {
        self.get(&self.image_path(
            location,
            &format!(
                "/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions/{version}"
            ),
        ))
        .await
    }
}

fn from_image(publisher: &str, offer: &str, sku: &str) -> Value {
    let mut body = with_nic(publisher, offer, sku, "");
    body["properties"]
        .as_object_mut()
        .unwrap()
        .remove("networkProfile");
    body
}

fn with_nic(publisher: &str, offer: &str, sku: &str, nic_id: &str) -> Value {
    json!({
        "location": "westeurope",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_DS1_v2"},
            "storageProfile": {
                "imageReference": {"publisher": publisher, "offer": offer, "sku": sku, "version": "latest"},
                "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Premium_LRS"}}
            },
            "osProfile": {"computerName": "web", "adminUsername": "azureuser", "adminPassword": "Secret-Passw0rd!"},
            "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": true}}]}
        }
    })
}

async fn the_catalogue_lists_what_az_vm_create_asks_for(app: ManagementApp) {
    let publishers = app.list_image_publishers("eastus").await;
    assert_eq!(publishers.status, StatusCode::OK, "{publishers:?}");
    let names: Vec<&str> = publishers
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Canonical") && names.contains(&"MicrosoftWindowsServer"),
        "{names:?}"
    );

    let versions = app
        .list_image_versions(
            "eastus",
            "Canonical",
            "0001-com-ubuntu-server-jammy",
            "22_04-lts-gen2",
        )
        .await;
    assert_eq!(versions.status, StatusCode::OK, "{versions:?}");
    let versions = versions.body.as_array().unwrap();
    assert_eq!(versions.len(), 1, "$top=1");
    let newest = versions[0]["name"].as_str().unwrap();
    let image = app
        .get_image(
            "eastus",
            "Canonical",
            "0001-com-ubuntu-server-jammy",
            "22_04-lts-gen2",
            newest,
        )
        .await;
    assert_eq!(image.status, StatusCode::OK, "{image:?}");
    assert_eq!(
        image.body["properties"]["osDiskImage"]["operatingSystem"],
        "Linux"
    );
    assert_eq!(image.body["properties"]["hyperVGeneration"], "V2");

    let missing = app
        .list_image_versions("eastus", "Canonical", "no-such-offer", "x")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "NotFound");
}

async fn a_vm_created_from_an_image_runs_its_os_and_shows_the_image(app: ManagementApp) {
    assert!(app.put_group("rg", "westeurope").await.status.is_success());
    let windows = app
        .put_vm(
            "rg",
            "win",
            from_image(
                "MicrosoftWindowsServer",
                "WindowsServer",
                "2022-datacenter-g2",
            ),
        )
        .await;
    assert_eq!(windows.status, StatusCode::CREATED, "{windows:?}");
    let storage = &windows.body["properties"]["storageProfile"];
    assert_eq!(storage["osDisk"]["osType"], "Windows");
    assert_eq!(storage["osDisk"]["diskSizeGB"], 127);
    assert_eq!(storage["imageReference"]["sku"], "2022-datacenter-g2");
    assert_eq!(storage["imageReference"]["version"], "latest");
    assert!(storage["imageReference"]["exactVersion"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    assert!(windows.body["properties"].get("networkProfile").is_none());

    let linux = app
        .put_vm("rg", "linux", from_image("Debian", "debian-12", "12-gen2"))
        .await;
    assert_eq!(
        linux.body["properties"]["storageProfile"]["osDisk"]["osType"],
        "Linux"
    );
    assert!(
        linux.body.to_string().find("Secret-Passw0rd!").is_none(),
        "the password is never kept"
    );

    // PUT back what GET shows: the same image is no change; another image is refused.
    let shown = app.get_vm("rg", "linux").await.body;
    let again = app.put_vm("rg", "linux", shown.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    let mut other = shown;
    other["properties"]["storageProfile"]["imageReference"]["sku"] = json!("11-backports-gen2");
    other["properties"]["storageProfile"]["imageReference"]["offer"] = json!("debian-11");
    let refused = app.put_vm("rg", "linux", other).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{refused:?}");

    let unknown = app
        .put_vm("rg", "nope", from_image("Canonical", "no-such-offer", "1"))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{unknown:?}");
    assert_eq!(unknown.error_code(), "PlatformImageNotFound");
}

async fn a_vm_claims_the_network_interfaces_it_names_and_releases_them(app: ManagementApp) {
    assert!(app.put_group("rg", "westeurope").await.status.is_success());
    let network = app
        .put_virtual_network(
            "rg",
            "vnet",
            json!({"location": "westeurope", "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}),
        )
        .await;
    assert!(network.status.is_success(), "{network:?}");
    let subnet_id = network.body["properties"]["subnets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nic = app
        .put_network_interface(
            "rg",
            "web-nic",
            json!({"location": "westeurope", "properties": {"ipConfigurations": [
                {"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}}}]}}),
        )
        .await;
    assert!(nic.status.is_success(), "{nic:?}");
    let nic_id = nic.body["id"].as_str().unwrap().to_owned();
    let missing = format!(
        "{}/providers/Microsoft.Network/networkInterfaces/nope",
        app.group_path("rg")
    );

    let refused = app
        .put_vm(
            "rg",
            "web",
            with_nic("Debian", "debian-12", "12-gen2", &missing),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.error_code(), "InvalidResourceReference");
    assert_eq!(
        app.get_vm("rg", "web").await.status,
        StatusCode::NOT_FOUND,
        "nothing created"
    );

    let vm = app
        .put_vm(
            "rg",
            "web",
            with_nic("Debian", "debian-12", "12-gen2", &nic_id),
        )
        .await;
    assert_eq!(vm.status, StatusCode::CREATED, "{vm:?}");
    let named = &vm.body["properties"]["networkProfile"]["networkInterfaces"][0];
    assert_eq!(named["id"], json!(nic_id));
    assert_eq!(named["properties"]["primary"], true);
    let claimed = app.get_network_interface("rg", "web-nic").await;
    assert_eq!(
        claimed.body["properties"]["virtualMachine"]["id"], vm.body["id"],
        "{claimed:?}"
    );
    let taken = app
        .put_vm(
            "rg",
            "other",
            with_nic("Debian", "debian-12", "12-gen2", &nic_id),
        )
        .await;
    assert_eq!(taken.error_code(), "NicInUse", "{taken:?}");
    assert_eq!(
        app.delete_network_interface("rg", "web-nic")
            .await
            .error_code(),
        "NicInUse"
    );

    assert!(app.delete_vm("rg", "web").await.status.is_success());
    let released = app.get_network_interface("rg", "web-nic").await;
    assert!(
        released.body["properties"].get("virtualMachine").is_none(),
        "{released:?}"
    );
    assert!(app
        .delete_network_interface("rg", "web-nic")
        .await
        .status
        .is_success());
}

on_both_backends!(
    a_vm_claims_the_network_interfaces_it_names_and_releases_them,
    the_catalogue_lists_what_az_vm_create_asks_for,
    a_vm_created_from_an_image_runs_its_os_and_shows_the_image,
);
