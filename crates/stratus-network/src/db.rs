//! The Network service's SQL, and nothing else. The same statements run on SQLite and
//! PostgreSQL.

use std::collections::HashMap;
use std::net::IpAddr;

use sqlx::FromRow;
use stratus_store::sql::{arguments, finish, placeholders, Filters, Page, Val};
use stratus_store::{Db, Result};

use crate::model::*;
use crate::tags::TagKind;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
fn parse<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

pub(crate) async fn count(db: &Db, table: &str, project: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE project_id = $1"))
            .bind(project)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// A quota an insert must stay within: fewer than `limit` rows of the project in `table`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Within {
    pub resource: &'static str,
    pub table: &'static str,
    pub limit: i64,
}

/// An insert refused by its quota: the resource named.
#[derive(Debug)]
pub(crate) struct OverQuota(pub &'static str);

/// Takes the project's quota lock and counts its rows, in the insert's own transaction, so
/// that the count and the insert are one step for concurrent requests on either store.
async fn gate(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    project: &str,
    within: Option<Within>,
) -> std::result::Result<std::result::Result<(), OverQuota>, sqlx::Error> {
    let Some(w) = within.filter(|w| w.limit >= 0) else {
        return Ok(Ok(()));
    };
    stratus_store::sql::lock_row(tx, "quota_locks", "project_id", project).await?;
    let used: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {} WHERE project_id = $1", w.table))
        .bind(project)
        .fetch_one(&mut **tx)
        .await?;
    Ok(if used < w.limit {
        Ok(())
    } else {
        Err(OverQuota(w.resource))
    })
}

// ---------------------------------------------------------------- networks

const NETWORK_COLS: &str = "id, name, description, project_id, admin_state_up, shared, external, mtu, network_type, \
     physical_network, segmentation_id, status, port_security_enabled, revision_number, created_at, updated_at";

#[derive(FromRow)]
struct NetworkRow {
    id: String,
    name: String,
    description: String,
    project_id: String,
    admin_state_up: i64,
    shared: i64,
    external: i64,
    mtu: i64,
    network_type: Option<String>,
    physical_network: Option<String>,
    segmentation_id: Option<i64>,
    status: String,
    port_security_enabled: i64,
    revision_number: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<NetworkRow> for Network {
    fn from(r: NetworkRow) -> Self {
        Network {
            id: r.id,
            name: r.name,
            description: r.description,
            project_id: r.project_id,
            admin_state_up: r.admin_state_up != 0,
            shared: r.shared != 0,
            external: r.external != 0,
            mtu: r.mtu,
            provider: Provider {
                network_type: r.network_type,
                physical_network: r.physical_network,
                segmentation_id: r.segmentation_id,
            },
            status: r.status,
            port_security_enabled: r.port_security_enabled != 0,
            revision_number: r.revision_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
            subnets: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// Inserts a network unless its project is at its quota.
pub(crate) async fn insert_network(
    db: &Db,
    n: &Network,
    within: Option<Within>,
) -> Result<std::result::Result<(), OverQuota>> {
    let mut tx = db.begin_write().await?;
    if let Err(over) = gate(&mut tx, &n.project_id, within).await? {
        tx.rollback().await?;
        return Ok(Err(over));
    }
    sqlx::query(
        "INSERT INTO networks (id, project_id, created_at, name, description, admin_state_up, shared, external, mtu, \
         network_type, physical_network, segmentation_id, status, revision_number, updated_at, port_security_enabled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&n.id)
    .bind(&n.project_id)
    .bind(n.created_at)
    .bind(&n.name)
    .bind(&n.description)
    .bind(n.admin_state_up as i64)
    .bind(n.shared as i64)
    .bind(n.external as i64)
    .bind(n.mtu)
    .bind(&n.provider.network_type)
    .bind(&n.provider.physical_network)
    .bind(n.provider.segmentation_id)
    .bind(&n.status)
    .bind(n.revision_number)
    .bind(n.updated_at)
    .bind(n.port_security_enabled as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Writes the changeable columns if the revision is still `seen`; false otherwise.
pub(crate) async fn update_network(db: &Db, n: &Network, seen: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE networks SET name = $1, description = $2, admin_state_up = $3, shared = $4, external = $5, mtu = $6, \
         network_type = $7, physical_network = $8, segmentation_id = $9, status = $10, revision_number = $11, \
         updated_at = $12, port_security_enabled = $15 WHERE id = $13 AND revision_number = $14",
    )
    .bind(&n.name)
    .bind(&n.description)
    .bind(n.admin_state_up as i64)
    .bind(n.shared as i64)
    .bind(n.external as i64)
    .bind(n.mtu)
    .bind(&n.provider.network_type)
    .bind(&n.provider.physical_network)
    .bind(n.provider.segmentation_id)
    .bind(&n.status)
    .bind(n.revision_number)
    .bind(n.updated_at)
    .bind(&n.id)
    .bind(seen)
    .bind(n.port_security_enabled as i64)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

async fn attach_subnet_ids(db: &Db, nets: &mut [Network]) -> Result<()> {
    if nets.is_empty() {
        return Ok(());
    }
    let ids: Vec<Val> = nets.iter().map(|n| Val::from(n.id.as_str())).collect();
    let list = placeholders(ids.len());
    let rows: Vec<(String, String)> = sqlx::query_as_with(
        &format!(
            "SELECT network_id, id FROM subnets WHERE network_id IN ({}) ORDER BY created_at, id",
            list
        ),
        arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?;
    let index: HashMap<String, usize> = nets.iter().enumerate().map(|(i, n)| (n.id.clone(), i)).collect();
    for (net, sub) in rows {
        if let Some(&i) = index.get(&net) {
            nets[i].subnets.push(sub);
        }
    }
    Ok(())
}

pub(crate) async fn get_network(db: &Db, id: &str) -> Result<Option<Network>> {
    let mut f = Filters::new();
    f.eq("id", Some(id));
    Ok(list_networks(db, f, &Page::default()).await?.pop())
}

pub(crate) async fn list_networks(db: &Db, mut f: Filters, page: &Page) -> Result<Vec<Network>> {
    let sql = format!(
        "SELECT {NETWORK_COLS} FROM networks{}",
        finish(&mut f, "networks", page)
    );
    let rows: Vec<NetworkRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut nets: Vec<Network> = rows.into_iter().map(Into::into).collect();
    attach_subnet_ids(db, &mut nets).await?;
    let mut tags = tags_of(db, TagKind::Networks, nets.iter().map(|n| n.id.as_str())).await?;
    for n in &mut nets {
        n.tags = tags.remove(&n.id).unwrap_or_default();
    }
    Ok(nets)
}

/// Runs `first`, then, if `guard` counts no rows, `then`, all in one transaction with `id`
/// bound as `$1`; false (and nothing changed) when the guard found rows.
async fn delete_unless_used<S: AsRef<str>>(db: &Db, id: &str, first: &[S], guard: &str, then: &[S]) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    for sql in first {
        sqlx::query(sql.as_ref()).bind(id).execute(&mut *tx).await?;
    }
    let used: i64 = sqlx::query_scalar(guard).bind(id).fetch_one(&mut *tx).await?;
    if used > 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    for sql in then {
        sqlx::query(sql.as_ref()).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The statements that delete the rows of `kind` matching `cond` (over `$1`) with their tags.
/// The rows are locked first (a tag write locks its resource's row before it adds a tag), so
/// that a tag added by a concurrent request is seen and removed, not left behind.
fn delete_tagged(kind: TagKind, cond: &str) -> [String; 3] {
    let table = kind.collection();
    [
        format!("UPDATE {table} SET revision_number = revision_number WHERE {cond}"),
        format!(
            "DELETE FROM tags WHERE resource_type = '{table}' AND resource_id IN (SELECT id FROM {table} WHERE {cond})"
        ),
        format!("DELETE FROM {table} WHERE {cond}"),
    ]
}

/// Deletes a network with its subnets and its DHCP ports (and all their tags), in one
/// transaction that changes nothing if any other port is on the network.
pub(crate) async fn delete_network(db: &Db, id: &str) -> Result<bool> {
    let dhcp = "network_id = $1 AND device_owner = 'network:dhcp'";
    let mut first = vec![format!(
        "DELETE FROM ip_allocations WHERE network_id = $1 AND port_id IN (SELECT id FROM ports WHERE {dhcp})"
    )];
    first.extend(delete_tagged(TagKind::Ports, dhcp));
    let mut then = Vec::new();
    then.extend(delete_tagged(TagKind::Subnets, "network_id = $1"));
    then.extend(delete_tagged(TagKind::Networks, "id = $1"));
    delete_unless_used(
        db,
        id,
        &first,
        "SELECT COUNT(*) FROM ports WHERE network_id = $1",
        &then,
    )
    .await
}

// ---------------------------------------------------------------- subnets

const SUBNET_COLS: &str = "id, network_id, name, description, project_id, ip_version, cidr, gateway_ip, enable_dhcp, \
     dns_nameservers, host_routes, allocation_pools, ipv6_ra_mode, ipv6_address_mode, revision_number, created_at, updated_at";

#[derive(FromRow)]
struct SubnetRow {
    id: String,
    network_id: String,
    name: String,
    description: String,
    project_id: String,
    ip_version: i64,
    cidr: String,
    gateway_ip: Option<String>,
    enable_dhcp: i64,
    dns_nameservers: String,
    host_routes: String,
    allocation_pools: String,
    ipv6_ra_mode: Option<String>,
    ipv6_address_mode: Option<String>,
    revision_number: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SubnetRow> for Subnet {
    type Error = sqlx::Error;
    fn try_from(r: SubnetRow) -> std::result::Result<Self, sqlx::Error> {
        let bad = |what: &str| sqlx::Error::Decode(format!("subnet {}: bad {what}", r.id).into());
        Ok(Subnet {
            cidr: r.cidr.parse().map_err(|_| bad("cidr"))?,
            gateway_ip: match &r.gateway_ip {
                Some(g) => Some(g.parse().map_err(|_| bad("gateway_ip"))?),
                None => None,
            },
            id: r.id.clone(),
            network_id: r.network_id,
            name: r.name,
            description: r.description,
            project_id: r.project_id,
            ip_version: r.ip_version as u8,
            enable_dhcp: r.enable_dhcp != 0,
            dns_nameservers: parse(&r.dns_nameservers),
            host_routes: parse(&r.host_routes),
            allocation_pools: parse(&r.allocation_pools),
            ipv6_ra_mode: r.ipv6_ra_mode,
            ipv6_address_mode: r.ipv6_address_mode,
            revision_number: r.revision_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
            tags: Vec::new(),
        })
    }
}

/// Inserts a subnet unless its project is at its quota.
pub(crate) async fn insert_subnet(
    db: &Db,
    s: &Subnet,
    within: Option<Within>,
) -> Result<std::result::Result<(), OverQuota>> {
    let mut tx = db.begin_write().await?;
    if let Err(over) = gate(&mut tx, &s.project_id, within).await? {
        tx.rollback().await?;
        return Ok(Err(over));
    }
    sqlx::query(
        "INSERT INTO subnets (id, network_id, name, description, project_id, ip_version, cidr, gateway_ip, enable_dhcp, \
         dns_nameservers, host_routes, allocation_pools, ipv6_ra_mode, ipv6_address_mode, revision_number, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&s.id)
    .bind(&s.network_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(&s.project_id)
    .bind(s.ip_version as i64)
    .bind(s.cidr.to_string())
    .bind(s.gateway_ip.map(|g| g.to_string()))
    .bind(s.enable_dhcp as i64)
    .bind(json(&s.dns_nameservers))
    .bind(json(&s.host_routes))
    .bind(json(&s.allocation_pools))
    .bind(&s.ipv6_ra_mode)
    .bind(&s.ipv6_address_mode)
    .bind(s.revision_number)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

pub(crate) async fn update_subnet(db: &Db, s: &Subnet, seen: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE subnets SET name = $1, description = $2, gateway_ip = $3, enable_dhcp = $4, dns_nameservers = $5, \
         host_routes = $6, allocation_pools = $7, revision_number = $8, updated_at = $9 WHERE id = $10 AND revision_number = $11",
    )
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.gateway_ip.map(|g| g.to_string()))
    .bind(s.enable_dhcp as i64)
    .bind(json(&s.dns_nameservers))
    .bind(json(&s.host_routes))
    .bind(json(&s.allocation_pools))
    .bind(s.revision_number)
    .bind(s.updated_at)
    .bind(&s.id)
    .bind(seen)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn get_subnet(db: &Db, id: &str) -> Result<Option<Subnet>> {
    let mut f = Filters::new();
    f.eq("id", Some(id));
    Ok(list_subnets(db, f, &Page::default()).await?.pop())
}

pub(crate) async fn list_subnets(db: &Db, mut f: Filters, page: &Page) -> Result<Vec<Subnet>> {
    let sql = format!("SELECT {SUBNET_COLS} FROM subnets{}", finish(&mut f, "subnets", page));
    let rows: Vec<SubnetRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut out: Vec<Subnet> = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(r.try_into()?);
    }
    let mut tags = tags_of(db, TagKind::Subnets, out.iter().map(|s| s.id.as_str())).await?;
    for s in &mut out {
        s.tags = tags.remove(&s.id).unwrap_or_default();
    }
    Ok(out)
}

pub(crate) async fn subnets_of(db: &Db, network_id: &str) -> Result<Vec<Subnet>> {
    let mut f = Filters::new();
    f.eq("network_id", Some(network_id));
    list_subnets(
        db,
        f,
        &Page {
            sort: vec![("created_at", false)],
            ..Default::default()
        },
    )
    .await
}

/// Deletes a subnet (with its tags) and the DHCP ports' addresses on it, unless another port
/// has one.
pub(crate) async fn delete_subnet(db: &Db, id: &str) -> Result<bool> {
    delete_unless_used(
        db,
        id,
        &["DELETE FROM ip_allocations WHERE subnet_id = $1 AND port_id IN \
           (SELECT id FROM ports WHERE device_owner = 'network:dhcp')"
            .to_owned()],
        "SELECT COUNT(*) FROM ip_allocations WHERE subnet_id = $1",
        &delete_tagged(TagKind::Subnets, "id = $1"),
    )
    .await
}

// ---------------------------------------------------------------- ports

const PORT_COLS: &str =
    "id, network_id, name, description, project_id, mac_address, admin_state_up, status, device_id, \
     device_owner, binding_host_id, binding_vif_type, binding_vnic_type, binding_vif_details, binding_profile, \
     port_security_enabled, allowed_address_pairs, revision_number, created_at, updated_at";

#[derive(FromRow)]
struct PortRow {
    id: String,
    network_id: String,
    name: String,
    description: String,
    project_id: String,
    mac_address: String,
    admin_state_up: i64,
    status: String,
    device_id: String,
    device_owner: String,
    binding_host_id: String,
    binding_vif_type: String,
    binding_vnic_type: String,
    binding_vif_details: String,
    binding_profile: String,
    port_security_enabled: i64,
    allowed_address_pairs: String,
    revision_number: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<PortRow> for Port {
    fn from(r: PortRow) -> Self {
        Port {
            id: r.id,
            network_id: r.network_id,
            name: r.name,
            description: r.description,
            project_id: r.project_id,
            mac_address: r.mac_address,
            admin_state_up: r.admin_state_up != 0,
            status: r.status,
            device_id: r.device_id,
            device_owner: r.device_owner,
            binding: Binding {
                host_id: r.binding_host_id,
                vif_type: r.binding_vif_type,
                vnic_type: r.binding_vnic_type,
                vif_details: serde_json::from_str(&r.binding_vif_details).unwrap_or_default(),
                profile: serde_json::from_str(&r.binding_profile).unwrap_or_default(),
            },
            port_security_enabled: r.port_security_enabled != 0,
            allowed_address_pairs: parse(&r.allowed_address_pairs),
            fixed_ips: Vec::new(),
            security_groups: Vec::new(),
            revision_number: r.revision_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
            tags: Vec::new(),
        }
    }
}

/// Why a port could not be written.
pub(crate) enum PortWrite {
    Done,
    /// An address is already in use: (subnet, address).
    AddressTaken,
    /// The MAC address is in use on the network.
    MacTaken,
    /// The project is at its port quota.
    OverQuota,
}

fn classify(e: sqlx::Error) -> std::result::Result<PortWrite, stratus_store::StoreError> {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => {
            let msg = d.message().to_ascii_lowercase();
            if msg.contains("mac") {
                Ok(PortWrite::MacTaken)
            } else {
                Ok(PortWrite::AddressTaken)
            }
        }
        _ => Err(e.into()),
    }
}

async fn write_port_children(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    p: &Port,
) -> std::result::Result<(), sqlx::Error> {
    for ip in &p.fixed_ips {
        sqlx::query("INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES ($1, $2, $3, $4)")
            .bind(&ip.subnet_id)
            .bind(ip.ip_address.to_string())
            .bind(&p.id)
            .bind(&p.network_id)
            .execute(&mut **tx)
            .await?;
    }
    for sg in &p.security_groups {
        sqlx::query("INSERT INTO port_security_groups (port_id, security_group_id) VALUES ($1, $2)")
            .bind(&p.id)
            .bind(sg)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts a port with its addresses and groups, all or nothing, unless its project is at
/// its quota.
pub(crate) async fn insert_port(db: &Db, p: &Port, within: Option<Within>) -> Result<PortWrite> {
    let mut tx = db.begin_write().await?;
    if gate(&mut tx, &p.project_id, within).await?.is_err() {
        tx.rollback().await?;
        return Ok(PortWrite::OverQuota);
    }
    let ins = sqlx::query(&format!(
        "INSERT INTO ports ({PORT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    ))
    .bind(&p.id)
    .bind(&p.network_id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(&p.project_id)
    .bind(&p.mac_address)
    .bind(p.admin_state_up as i64)
    .bind(&p.status)
    .bind(&p.device_id)
    .bind(&p.device_owner)
    .bind(&p.binding.host_id)
    .bind(&p.binding.vif_type)
    .bind(&p.binding.vnic_type)
    .bind(p.binding.vif_details.to_string())
    .bind(p.binding.profile.to_string())
    .bind(p.port_security_enabled as i64)
    .bind(json(&p.allowed_address_pairs))
    .bind(p.revision_number)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut *tx)
    .await;
    if let Err(e) = ins {
        let _ = tx.rollback().await;
        return match classify(e)? {
            // The only unique key of ports besides the id is (network, mac).
            PortWrite::AddressTaken | PortWrite::MacTaken => Ok(PortWrite::MacTaken),
            other => Ok(other),
        };
    }
    if let Err(e) = write_port_children(&mut tx, p).await {
        let _ = tx.rollback().await;
        return classify(e);
    }
    // Tags given with the port (Neutron's ports take them on create).
    for t in &p.tags {
        insert_tag(&mut tx, TagKind::Ports, &p.id, t).await?;
    }
    tx.commit().await?;
    Ok(PortWrite::Done)
}

/// Rewrites a port (columns, addresses, groups) if its revision is still `seen`.
pub(crate) async fn update_port(db: &Db, p: &Port, seen: i64) -> Result<Option<PortWrite>> {
    let mut tx = db.begin_write().await?;
    let r = sqlx::query(
        "UPDATE ports SET name = $1, description = $2, mac_address = $3, admin_state_up = $4, status = $5, device_id = $6, \
         device_owner = $7, binding_host_id = $8, binding_vif_type = $9, binding_vnic_type = $10, binding_vif_details = $11, \
         binding_profile = $12, port_security_enabled = $13, allowed_address_pairs = $14, revision_number = $15, \
         updated_at = $16 WHERE id = $17 AND revision_number = $18",
    )
    .bind(&p.name)
    .bind(&p.description)
    .bind(&p.mac_address)
    .bind(p.admin_state_up as i64)
    .bind(&p.status)
    .bind(&p.device_id)
    .bind(&p.device_owner)
    .bind(&p.binding.host_id)
    .bind(&p.binding.vif_type)
    .bind(&p.binding.vnic_type)
    .bind(p.binding.vif_details.to_string())
    .bind(p.binding.profile.to_string())
    .bind(p.port_security_enabled as i64)
    .bind(json(&p.allowed_address_pairs))
    .bind(p.revision_number)
    .bind(p.updated_at)
    .bind(&p.id)
    .bind(seen)
    .execute(&mut *tx)
    .await;
    match r {
        Ok(r) if r.rows_affected() == 0 => {
            let _ = tx.rollback().await;
            return Ok(None);
        }
        Ok(_) => {}
        Err(e) => {
            let _ = tx.rollback().await;
            return Ok(Some(classify(e).map(|_| PortWrite::MacTaken)?));
        }
    }
    for sql in [
        "DELETE FROM ip_allocations WHERE port_id = $1",
        "DELETE FROM port_security_groups WHERE port_id = $1",
    ] {
        sqlx::query(sql).bind(&p.id).execute(&mut *tx).await?;
    }
    if let Err(e) = write_port_children(&mut tx, p).await {
        let _ = tx.rollback().await;
        return Ok(Some(classify(e)?));
    }
    tx.commit().await?;
    Ok(Some(PortWrite::Done))
}

async fn attach_port_children(db: &Db, ports: &mut [Port]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let ids: Vec<Val> = ports.iter().map(|p| Val::from(p.id.as_str())).collect();
    let list = placeholders(ids.len());
    let index: HashMap<String, usize> = ports.iter().enumerate().map(|(i, p)| (p.id.clone(), i)).collect();
    let ips: Vec<(String, String, String)> = sqlx::query_as_with(
        &format!("SELECT port_id, subnet_id, ip_address FROM ip_allocations WHERE port_id IN ({list})"),
        arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?;
    for (port, subnet, ip) in ips {
        if let (Some(&i), Ok(addr)) = (index.get(&port), ip.parse::<IpAddr>()) {
            ports[i].fixed_ips.push(FixedIp {
                subnet_id: subnet,
                ip_address: addr,
            });
        }
    }
    for p in ports.iter_mut() {
        p.fixed_ips
            .sort_by(|a, b| (&a.subnet_id, a.ip_address).cmp(&(&b.subnet_id, b.ip_address)));
    }
    let sgs: Vec<(String, String)> = sqlx::query_as_with(
        &format!("SELECT port_id, security_group_id FROM port_security_groups WHERE port_id IN ({list}) ORDER BY security_group_id"),
        arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?;
    for (port, sg) in sgs {
        if let Some(&i) = index.get(&port) {
            ports[i].security_groups.push(sg);
        }
    }
    let mut tags = tags_of(db, TagKind::Ports, ports.iter().map(|p| p.id.as_str())).await?;
    for p in ports.iter_mut() {
        p.tags = tags.remove(&p.id).unwrap_or_default();
    }
    Ok(())
}

pub(crate) async fn get_port(db: &Db, id: &str) -> Result<Option<Port>> {
    let mut f = Filters::new();
    f.eq("id", Some(id));
    Ok(list_ports(db, f, &Page::default()).await?.pop())
}

pub(crate) async fn list_ports(db: &Db, mut f: Filters, page: &Page) -> Result<Vec<Port>> {
    let sql = format!("SELECT {PORT_COLS} FROM ports{}", finish(&mut f, "ports", page));
    let rows: Vec<PortRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut ports: Vec<Port> = rows.into_iter().map(Into::into).collect();
    attach_port_children(db, &mut ports).await?;
    Ok(ports)
}

/// Deletes a port with its addresses, groups and tags; false when it was gone already.
pub(crate) async fn delete_port(db: &Db, id: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    for sql in [
        "DELETE FROM ip_allocations WHERE port_id = $1",
        "DELETE FROM port_security_groups WHERE port_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    let [lock, untag, delete] = delete_tagged(TagKind::Ports, "id = $1");
    sqlx::query(&lock).bind(id).execute(&mut *tx).await?;
    sqlx::query(&untag).bind(id).execute(&mut *tx).await?;
    let r = sqlx::query(&delete).bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn address_taken(db: &Db, subnet_id: &str, ip: IpAddr) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ip_allocations WHERE subnet_id = $1 AND ip_address = $2")
        .bind(subnet_id)
        .bind(ip.to_string())
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn taken_in(db: &Db, subnet_id: &str) -> Result<Vec<IpAddr>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT ip_address FROM ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().filter_map(|s| s.parse().ok()).collect())
}

pub(crate) async fn ports_on(db: &Db, network_id: &str, except_owner: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM ports WHERE network_id = $1 AND device_owner <> $2")
            .bind(network_id)
            .bind(except_owner)
            .fetch_one(&db.pool)
            .await?,
    )
}

// ---------------------------------------------------------------- security groups

const SG_COLS: &str = "id, name, description, project_id, stateful, revision_number, created_at, updated_at";
const RULE_COLS: &str =
    "id, security_group_id, project_id, direction, ethertype, protocol, port_range_min, port_range_max, \
     remote_ip_prefix, remote_group_id, description, revision_number, created_at, updated_at, normalized_cidr";

#[derive(FromRow)]
struct SgRow {
    id: String,
    name: String,
    description: String,
    project_id: String,
    stateful: i64,
    revision_number: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(FromRow)]
struct RuleRow {
    id: String,
    security_group_id: String,
    project_id: String,
    direction: String,
    ethertype: String,
    protocol: Option<String>,
    port_range_min: Option<i64>,
    port_range_max: Option<i64>,
    remote_ip_prefix: Option<String>,
    remote_group_id: Option<String>,
    description: String,
    revision_number: i64,
    created_at: i64,
    updated_at: i64,
    normalized_cidr: Option<String>,
}

impl From<RuleRow> for SecurityGroupRule {
    fn from(r: RuleRow) -> Self {
        SecurityGroupRule {
            id: r.id,
            security_group_id: r.security_group_id,
            project_id: r.project_id,
            direction: r.direction,
            ethertype: r.ethertype,
            protocol: r.protocol,
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            remote_ip_prefix: r.remote_ip_prefix,
            normalized_cidr: r.normalized_cidr,
            remote_group_id: r.remote_group_id,
            description: r.description,
            revision_number: r.revision_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

async fn insert_rule_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &SecurityGroupRule,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO security_group_rules ({RULE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&r.id)
    .bind(&r.security_group_id)
    .bind(&r.project_id)
    .bind(&r.direction)
    .bind(&r.ethertype)
    .bind(&r.protocol)
    .bind(r.port_range_min)
    .bind(r.port_range_max)
    .bind(&r.remote_ip_prefix)
    .bind(&r.remote_group_id)
    .bind(&r.description)
    .bind(r.revision_number)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(&r.normalized_cidr)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a group with its rules; with `default_for`, also records it as that project's
/// default group, which fails (a conflict) if another request made one first.
pub(crate) async fn insert_security_group(
    db: &Db,
    g: &SecurityGroup,
    default: bool,
    within: Option<Within>,
) -> Result<std::result::Result<(), OverQuota>> {
    let mut tx = db.begin_write().await?;
    if let Err(over) = gate(&mut tx, &g.project_id, within).await? {
        tx.rollback().await?;
        return Ok(Err(over));
    }
    sqlx::query(&format!(
        "INSERT INTO security_groups ({SG_COLS}, is_default) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&g.id)
    .bind(&g.name)
    .bind(&g.description)
    .bind(&g.project_id)
    .bind(g.stateful as i64)
    .bind(g.revision_number)
    .bind(g.created_at)
    .bind(g.updated_at)
    .bind(default as i64)
    .execute(&mut *tx)
    .await?;
    if default {
        sqlx::query("INSERT INTO default_security_groups (project_id, security_group_id) VALUES ($1, $2)")
            .bind(&g.project_id)
            .bind(&g.id)
            .execute(&mut *tx)
            .await?;
    }
    for r in &g.rules {
        insert_rule_tx(&mut tx, r).await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

pub(crate) async fn default_security_group(db: &Db, project: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT security_group_id FROM default_security_groups WHERE project_id = $1")
            .bind(project)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub(crate) async fn is_default_group(db: &Db, id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM security_groups WHERE id = $1 AND is_default = 1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn update_security_group(db: &Db, g: &SecurityGroup) -> Result<()> {
    sqlx::query(
        "UPDATE security_groups SET name = $1, description = $2, revision_number = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&g.name)
    .bind(&g.description)
    .bind(g.revision_number)
    .bind(g.updated_at)
    .bind(&g.id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

async fn attach_rules(db: &Db, groups: &mut [SecurityGroup]) -> Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let ids: Vec<Val> = groups.iter().map(|g| Val::from(g.id.as_str())).collect();
    let list = placeholders(ids.len());
    let rows: Vec<RuleRow> = sqlx::query_as_with(
        &format!(
            "SELECT {RULE_COLS} FROM security_group_rules WHERE security_group_id IN ({}) ORDER BY created_at, id",
            list
        ),
        arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?;
    let index: HashMap<String, usize> = groups.iter().enumerate().map(|(i, g)| (g.id.clone(), i)).collect();
    for r in rows {
        if let Some(&i) = index.get(&r.security_group_id) {
            groups[i].rules.push(r.into());
        }
    }
    Ok(())
}

fn sg_from(r: SgRow) -> SecurityGroup {
    SecurityGroup {
        id: r.id,
        name: r.name,
        description: r.description,
        project_id: r.project_id,
        stateful: r.stateful != 0,
        rules: Vec::new(),
        revision_number: r.revision_number,
        created_at: r.created_at,
        updated_at: r.updated_at,
        tags: Vec::new(),
    }
}

pub(crate) async fn get_security_group(db: &Db, id: &str) -> Result<Option<SecurityGroup>> {
    let mut f = Filters::new();
    f.eq("id", Some(id));
    Ok(list_security_groups(db, f, &Page::default()).await?.pop())
}

pub(crate) async fn list_security_groups(db: &Db, mut f: Filters, page: &Page) -> Result<Vec<SecurityGroup>> {
    let sql = format!(
        "SELECT {SG_COLS} FROM security_groups{}",
        finish(&mut f, "security_groups", page)
    );
    let rows: Vec<SgRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut groups: Vec<SecurityGroup> = rows.into_iter().map(sg_from).collect();
    attach_rules(db, &mut groups).await?;
    let mut tags = tags_of(db, TagKind::SecurityGroups, groups.iter().map(|g| g.id.as_str())).await?;
    for g in &mut groups {
        g.tags = tags.remove(&g.id).unwrap_or_default();
    }
    Ok(groups)
}

/// Deletes a group with its rules, the rules of other groups that name it as their remote
/// group (as Neutron's foreign key cascades), and its tags; false when a port still uses it.
pub(crate) async fn delete_security_group(db: &Db, id: &str) -> Result<bool> {
    let mut then = vec![
        "DELETE FROM security_group_rules WHERE security_group_id = $1 OR remote_group_id = $1".to_owned(),
        "DELETE FROM default_security_groups WHERE security_group_id = $1".to_owned(),
    ];
    then.extend(delete_tagged(TagKind::SecurityGroups, "id = $1"));
    delete_unless_used(
        db,
        id,
        &[] as &[String],
        "SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = $1",
        &then,
    )
    .await
}

/// Inserts a rule unless its project is at its quota.
pub(crate) async fn insert_rule(
    db: &Db,
    r: &SecurityGroupRule,
    within: Option<Within>,
) -> Result<std::result::Result<(), OverQuota>> {
    let mut tx = db.begin_write().await?;
    if let Err(over) = gate(&mut tx, &r.project_id, within).await? {
        tx.rollback().await?;
        return Ok(Err(over));
    }
    insert_rule_tx(&mut tx, r).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

pub(crate) async fn get_rule(db: &Db, id: &str) -> Result<Option<SecurityGroupRule>> {
    let mut f = Filters::new();
    f.eq("id", Some(id));
    Ok(list_rules(db, f, &Page::default()).await?.pop())
}

pub(crate) async fn list_rules(db: &Db, mut f: Filters, page: &Page) -> Result<Vec<SecurityGroupRule>> {
    let sql = format!(
        "SELECT {RULE_COLS} FROM security_group_rules{}",
        finish(&mut f, "security_group_rules", page)
    );
    let rows: Vec<RuleRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn delete_rule(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM security_group_rules WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---------------------------------------------------------------- quotas

pub(crate) async fn quotas(db: &Db, project: &str) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
        .bind(project)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Sets the project's limits, all in one transaction.
pub(crate) async fn set_quotas(db: &Db, project: &str, limits: &[(&str, i64)]) -> Result<()> {
    Ok(stratus_store::sql::set_project_limits(db, "quotas", project, limits).await?)
}

/// The projects with limits of their own, in id order.
pub(crate) async fn quota_projects(db: &Db) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT DISTINCT project_id FROM quotas ORDER BY project_id")
            .fetch_all(&db.pool)
            .await?,
    )
}

pub(crate) async fn delete_quotas(db: &Db, project: &str) -> Result<()> {
    Ok(stratus_store::sql::delete_project_limits(db, "quotas", project).await?)
}

// ---------------------------------------------------------------- tags

/// The tags of the resources `ids` of `kind`, by resource id, each list in order.
async fn tags_of<'a>(
    db: &Db,
    kind: TagKind,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Vec<String>>> {
    let mut vals: Vec<Val> = vec![Val::from(kind.collection())];
    vals.extend(ids.map(Val::from));
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if vals.len() == 1 {
        return Ok(out);
    }
    let list = (2..=vals.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let rows: Vec<(String, String)> = sqlx::query_as_with(
        &format!("SELECT resource_id, tag FROM tags WHERE resource_type = $1 AND resource_id IN ({list}) ORDER BY tag"),
        arguments(&vals),
    )
    .fetch_all(&db.pool)
    .await?;
    for (id, tag) in rows {
        out.entry(id).or_default().push(tag);
    }
    Ok(out)
}

async fn insert_tag(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: TagKind,
    id: &str,
    tag: &str,
) -> std::result::Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO tags (resource_type, resource_id, tag) VALUES ($1, $2, $3) \
         ON CONFLICT (resource_type, resource_id, tag) DO NOTHING",
    )
    .bind(kind.collection())
    .bind(id)
    .bind(tag)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// A change of a resource's tags, made in one transaction that first bumps the resource's
/// revision (which also locks its row, see [`delete_tagged`]).
pub(crate) enum TagChange<'a> {
    /// Add these (those present stay).
    Add(&'a [String]),
    /// Make the tags exactly these.
    Replace(&'a [String]),
    /// Remove this one.
    Remove(&'a str),
    /// Remove all.
    Clear,
}

/// What became of a [`TagChange`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tagged {
    Done,
    /// The resource is gone.
    NoResource,
    /// The tag to remove was not there; nothing changed.
    NoTag,
}

pub(crate) async fn change_tags(db: &Db, kind: TagKind, id: &str, change: TagChange<'_>, now: i64) -> Result<Tagged> {
    let table = kind.collection();
    let mut tx = db.begin_write().await?;
    let bumped = sqlx::query(&format!(
        "UPDATE {table} SET revision_number = revision_number + 1, updated_at = $2 WHERE id = $1"
    ))
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if bumped.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(Tagged::NoResource);
    }
    let clear = "DELETE FROM tags WHERE resource_type = $1 AND resource_id = $2";
    match change {
        TagChange::Add(tags) => {
            for t in tags {
                insert_tag(&mut tx, kind, id, t).await?;
            }
        }
        TagChange::Replace(tags) => {
            sqlx::query(clear).bind(table).bind(id).execute(&mut *tx).await?;
            for t in tags {
                insert_tag(&mut tx, kind, id, t).await?;
            }
        }
        TagChange::Remove(tag) => {
            let r = sqlx::query("DELETE FROM tags WHERE resource_type = $1 AND resource_id = $2 AND tag = $3")
                .bind(table)
                .bind(id)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(Tagged::NoTag);
            }
        }
        TagChange::Clear => {
            sqlx::query(clear).bind(table).bind(id).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(Tagged::Done)
}

// ---------------------------------------------------------------- default security group rules

const TEMPLATE_COLS: &str = "id, direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, \
     normalized_cidr, remote_group_id, description, used_in_default_sg, used_in_non_default_sg, created_at";

#[derive(FromRow)]
struct TemplateRow {
    id: String,
    direction: String,
    ethertype: String,
    protocol: Option<String>,
    port_range_min: Option<i64>,
    port_range_max: Option<i64>,
    remote_ip_prefix: Option<String>,
    normalized_cidr: Option<String>,
    remote_group_id: Option<String>,
    description: String,
    used_in_default_sg: i64,
    used_in_non_default_sg: i64,
    created_at: i64,
}

impl From<TemplateRow> for DefaultSecurityGroupRule {
    fn from(r: TemplateRow) -> Self {
        DefaultSecurityGroupRule {
            id: r.id,
            direction: r.direction,
            ethertype: r.ethertype,
            protocol: r.protocol,
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            remote_ip_prefix: r.remote_ip_prefix,
            normalized_cidr: r.normalized_cidr,
            remote_group_id: r.remote_group_id,
            description: r.description,
            used_in_default_sg: r.used_in_default_sg != 0,
            used_in_non_default_sg: r.used_in_non_default_sg != 0,
            created_at: r.created_at,
        }
    }
}

pub(crate) async fn list_default_rules(db: &Db, mut f: Filters, page: &Page) -> Result<Vec<DefaultSecurityGroupRule>> {
    let sql = format!(
        "SELECT {TEMPLATE_COLS} FROM default_security_group_rules{}",
        finish(&mut f, "default_security_group_rules", page)
    );
    let rows: Vec<TemplateRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn get_default_rule(db: &Db, id: &str) -> Result<Option<DefaultSecurityGroupRule>> {
    let mut f = Filters::new();
    f.eq("id", Some(id));
    Ok(list_default_rules(db, f, &Page::default()).await?.pop())
}

/// The templates a new group is made from: the `default` group's or any other's, in the
/// order they were made.
pub(crate) async fn templates_for(db: &Db, default_group: bool) -> Result<Vec<DefaultSecurityGroupRule>> {
    let mut f = Filters::new();
    f.eq_flag(
        if default_group {
            "used_in_default_sg"
        } else {
            "used_in_non_default_sg"
        },
        Some(true),
    );
    list_default_rules(
        db,
        f,
        &Page {
            sort: vec![("created_at", false)],
            ..Default::default()
        },
    )
    .await
}

/// Inserts a template unless `duplicate_of` finds one of the present templates it repeats;
/// then the id of that one. The check and the insert are one step for concurrent requests.
pub(crate) async fn insert_default_rule(
    db: &Db,
    r: &DefaultSecurityGroupRule,
    duplicate_of: impl Fn(&DefaultSecurityGroupRule) -> bool,
) -> Result<Option<String>> {
    let mut tx = db.begin_write().await?;
    stratus_store::sql::lock_row(&mut tx, "template_locks", "name", "default_security_group_rules").await?;
    let rows: Vec<TemplateRow> = sqlx::query_as(&format!("SELECT {TEMPLATE_COLS} FROM default_security_group_rules"))
        .fetch_all(&mut *tx)
        .await?;
    if let Some(dup) = rows
        .into_iter()
        .map(DefaultSecurityGroupRule::from)
        .find(|o| duplicate_of(o))
    {
        tx.rollback().await?;
        return Ok(Some(dup.id));
    }
    sqlx::query(&format!(
        "INSERT INTO default_security_group_rules ({TEMPLATE_COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&r.id)
    .bind(&r.direction)
    .bind(&r.ethertype)
    .bind(&r.protocol)
    .bind(r.port_range_min)
    .bind(r.port_range_max)
    .bind(&r.remote_ip_prefix)
    .bind(&r.normalized_cidr)
    .bind(&r.remote_group_id)
    .bind(&r.description)
    .bind(r.used_in_default_sg as i64)
    .bind(r.used_in_non_default_sg as i64)
    .bind(r.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(None)
}

pub(crate) async fn delete_default_rule(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM default_security_group_rules WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}
