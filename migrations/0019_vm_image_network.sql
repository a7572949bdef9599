-- What a VM was created from and what it is connected to, as ARM reports them: the
-- platform image of storageProfile.imageReference (its publisher, offer, SKU, version as
-- given and the exact version it resolved to) and networkProfile.networkInterfaces (the
-- ids of its network interfaces). Both JSON; null for VMs registered by an agent or created
-- without them.
alter table virtual_machine add column image_reference text;
alter table virtual_machine add column network_interfaces text;
