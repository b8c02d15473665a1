//! `GET /extensions` and `GET /extensions/{alias}`: Nova's fixed list of v2.1 API extensions
//! (`nova/api/openstack/compute/extension_info.py`), cut down to what this API serves. Each
//! entry keeps Nova's alias, name and description, and says beside it which route or field
//! makes it true here; an extension Stratus does not serve is not listed, so clients that
//! look for one learn the truth.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller};

use crate::{fail, reply, ApiState, Out};

/// Nova answers every extension with these (v2.1 has no XML namespaces or dates of its own).
const NAMESPACE: &str = "http://docs.openstack.org/compute/ext/fake_xml";
const UPDATED: &str = "2014-12-03T00:00:00Z";

/// (alias, name, description), sorted by alias as Nova lists them.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    // OS-DCF:diskConfig on servers, accepted at create, update and shown.
    ("OS-DCF", "DiskConfig", "Disk Management Extension."),
    // OS-EXT-AZ:availability_zone on servers.
    (
        "OS-EXT-AZ",
        "ExtendedAvailabilityZone",
        "Extended Availability Zone support.",
    ),
    // OS-EXT-IMG-SIZE:size in the image proxy's images (up to 2.35).
    ("OS-EXT-IMG-SIZE", "ImageSize", "Adds image size to image listings."),
    // OS-EXT-IPS:type and OS-EXT-IPS-MAC:mac_addr in server addresses.
    ("OS-EXT-IPS", "ExtendedIps", "Adds type parameter to the ip list."),
    (
        "OS-EXT-IPS-MAC",
        "ExtendedIpsMac",
        "Adds mac address parameter to the ip list.",
    ),
    // OS-EXT-SRV-ATTR:* for administrators, OS-EXT-STS:* for everyone.
    (
        "OS-EXT-SRV-ATTR",
        "ExtendedServerAttributes",
        "Extended Server Attributes support.",
    ),
    ("OS-EXT-STS", "ExtendedStatus", "Extended Status support."),
    // OS-FLV-DISABLED:disabled and OS-FLV-EXT-DATA:ephemeral on flavors.
    (
        "OS-FLV-DISABLED",
        "FlavorDisabled",
        "Support to show the disabled status of a flavor.",
    ),
    (
        "OS-FLV-EXT-DATA",
        "FlavorExtraData",
        "Provide additional data for flavors.",
    ),
    // os:scheduler_hints (the server group hint) at create.
    (
        "OS-SCH-HNT",
        "SchedulerHints",
        "Pass arbitrary key/value pairs to the scheduler.",
    ),
    // OS-SRV-USG:launched_at / terminated_at on servers.
    (
        "OS-SRV-USG",
        "ServerUsage",
        "Adds launched_at and terminated_at on Servers.",
    ),
    // accessIPv4 / accessIPv6.
    ("os-access-ips", "AccessIPs", "Access IPs support."),
    // The changePassword server action.
    ("os-admin-password", "AdminPassword", "Admin password management support."),
    ("os-aggregates", "Aggregates", "Admin-only aggregate administration."),
    (
        "os-availability-zone",
        "AvailabilityZone",
        "1. Add availability_zone to the Create Server API.\n       2. Add availability zones describing.\n    ",
    ),
    // block_device_mapping_v2 at create (boot from volume, volumes to start with).
    (
        "os-block-device-mapping",
        "BlockDeviceMapping",
        "Block device mapping boot support.",
    ),
    (
        "os-block-device-mapping-v2-boot",
        "BlockDeviceMappingV2Boot",
        "Allow boot with the new BDM data format.",
    ),
    ("os-config-drive", "ConfigDrive", "Config Drive Extension."),
    (
        "os-console-output",
        "ConsoleOutput",
        "Console log output support, with tailing ability.",
    ),
    // Nova lists it wherever servers are served.
    (
        "os-create-server-ext",
        "Createserverext",
        "Extended support to the Create Server v1.1 API.",
    ),
    (
        "os-extended-hypervisors",
        "ExtendedHypervisors",
        "Extended hypervisors support.",
    ),
    // DELETE /os-quota-sets/{project}.
    (
        "os-extended-quotas",
        "ExtendedQuotas",
        "Adds ability for admins to delete quota and optionally force the update Quota command.",
    ),
    // disabled_reason on os-services.
    ("os-extended-services", "ExtendedServices", "Extended services support."),
    ("os-extended-status", "ExtendedStatus", "Extended Status support."),
    // os-extended-volumes:volumes_attached on servers.
    ("os-extended-volumes", "ExtendedVolumes", "Extended Volumes support."),
    ("os-flavor-access", "FlavorAccess", "Flavor access support."),
    (
        "os-flavor-extra-specs",
        "FlavorExtraSpecs",
        "Flavors extra specs support.",
    ),
    ("os-flavor-manage", "FlavorManage", "Flavor create/delete API support."),
    (
        "os-flavor-rxtx",
        "FlavorRxtx",
        "Support to show the rxtx status of a flavor.",
    ),
    (
        "os-flavor-swap",
        "FlavorSwap",
        "Support to show the swap status of a flavor.",
    ),
    // state and status of hypervisors.
    ("os-hypervisor-status", "HypervisorStatus", "Show hypervisor status."),
    ("os-hypervisors", "Hypervisors", "Admin-only hypervisor administration."),
    (
        "os-instance-actions",
        "InstanceActions",
        "View a log of actions and events taken on an instance.",
    ),
    ("os-keypairs", "Keypairs", "Keypair Support."),
    ("os-lock-server", "LockServer", "Enable lock/unlock server actions."),
    // min_count / max_count at create.
    (
        "os-multiple-create",
        "MultipleCreate",
        "Allow multiple create in the Create Server v2.1 API.",
    ),
    ("os-pause-server", "PauseServer", "Enable pause/unpause server actions."),
    (
        "os-quota-class-sets",
        "QuotaClasses",
        "Quota classes management support.",
    ),
    ("os-quota-sets", "Quotas", "Quotas management support."),
    // security_groups at create and on servers, /servers/{id}/os-security-groups and the
    // addSecurityGroup / removeSecurityGroup actions.
    ("os-security-groups", "SecurityGroups", "Security group support."),
    // server_groups and server_group_members quotas.
    (
        "os-server-group-quotas",
        "ServerGroupQuotas",
        "Adds quota support to server groups.",
    ),
    ("os-server-groups", "ServerGroups", "Server group support."),
    (
        "os-server-start-stop",
        "ServerStartStop",
        "Start/Stop instance compute API support.",
    ),
    ("os-services", "Services", "Services support."),
    (
        "os-simple-tenant-usage",
        "SimpleTenantUsage",
        "Simple tenant usage extension.",
    ),
    // totalXUsed in /limits.
    (
        "os-used-limits",
        "UsedLimits",
        "Provide data on limited resources that are being used.",
    ),
    ("os-user-data", "UserData", "Add user_data to the Create Server API."),
    // Per-user limits in os-quota-sets (?user_id=).
    ("os-user-quotas", "UserQuotas", "Project user quota support."),
    // /servers/{id}/os-volume_attachments.
    ("os-volumes", "Volumes", "Volumes support."),
];

fn view(alias: &str, name: &str, description: &str) -> Value {
    json!({
        "alias": alias,
        "name": name,
        "description": description,
        "namespace": NAMESPACE,
        "updated": UPDATED,
        "links": [],
    })
}

pub(crate) async fn list_extensions(State(s): State<ApiState>, c: Caller) -> Out {
    s.svc.allow_extensions(&c).map_err(fail)?;
    let items: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| view(a, n, d)).collect();
    Ok(reply(StatusCode::OK, json!({ "extensions": items })))
}

pub(crate) async fn show_extension(State(s): State<ApiState>, c: Caller, Path(alias): Path<String>) -> Out {
    s.svc.allow_extensions(&c).map_err(fail)?;
    let (a, n, d) = EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .ok_or_else(|| ApiError::not_found(format!("Extension {alias:.80} could not be found.")))?;
    Ok(reply(StatusCode::OK, json!({ "extension": view(a, n, d) })))
}

#[cfg(test)]
mod tests {
    use super::EXTENSIONS;

    #[test]
    fn the_list_is_sorted_by_alias_without_duplicates() {
        let aliases: Vec<&str> = EXTENSIONS.iter().map(|(a, _, _)| *a).collect();
        let mut sorted = aliases.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(aliases, sorted);
    }
}
