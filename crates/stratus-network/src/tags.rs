//! Tags on the resources with standard attributes (Neutron's `standard-attr-tag`): networks,
//! subnets, ports and security groups. A tag is any string of at most 255 characters; a
//! resource has each at most once (the database's key decides).
//!
//! Who may see or change a resource's tags follows the resource: the caller must see the
//! resource (or it is not found), then the `<verb>_<collection>_tags` rule decides. Every
//! change bumps the resource's revision, in the transaction that makes it, and a resource's
//! delete removes its tags in its own transaction. This module must not know HTTP or JSON.

use stratus_api::AuthContext;
use stratus_store::now_micros;
use stratus_store::sql::Filters;

use crate::db::{self, TagChange, Tagged};
use crate::error::{NetworkError, Result};
use crate::networks::target;
use crate::NetworkService;

/// The longest tag Neutron keeps.
pub const MAX_TAG_LEN: usize = 255;

/// The kinds of resource that take tags, by Neutron's collection name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Networks,
    Subnets,
    Ports,
    SecurityGroups,
}

impl TagKind {
    /// Neutron's collection name (`security_groups`), which is also the table's name here and
    /// the middle of the policy rules' names (`update_security_groups_tags`).
    pub fn collection(self) -> &'static str {
        match self {
            TagKind::Networks => "networks",
            TagKind::Subnets => "subnets",
            TagKind::Ports => "ports",
            TagKind::SecurityGroups => "security_groups",
        }
    }
}

/// One tag: a string of at most [`MAX_TAG_LEN`] characters (Neutron's `validate_string`).
pub fn check_tag(tag: &str) -> Result<()> {
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(NetworkError::invalid(format!(
            "'{tag}' exceeds maximum length of {MAX_TAG_LEN}"
        )));
    }
    Ok(())
}

/// A list of tags: each valid, none twice (Neutron's `validate_list_of_unique_strings`).
pub fn check_tags(tags: &[String]) -> Result<()> {
    for t in tags {
        check_tag(t)?;
    }
    let mut seen: Vec<&str> = tags.iter().map(String::as_str).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(NetworkError::invalid(format!(
            "Duplicate items in the list: '{}'",
            w[0]
        )));
    }
    Ok(())
}

/// The four tag filters of a list (`tags`, `tags-any`, `not-tags`, `not-tags-any`), each a
/// comma-separated list; true when `key` is one of them and the clause was added.
pub(crate) fn tag_filter(f: &mut Filters, kind: TagKind, key: &str, value: &str) -> bool {
    let (negate, all) = match key {
        "tags" => (false, true),
        "tags-any" => (false, false),
        "not-tags" => (true, true),
        "not-tags-any" => (true, false),
        _ => return false,
    };
    let mut wanted: Vec<&str> = value.split(',').collect();
    wanted.sort_unstable();
    wanted.dedup();
    let k = f.bind(kind.collection());
    let list: Vec<String> = wanted.iter().map(|t| f.bind(*t)).collect();
    let mut sub = format!(
        "SELECT resource_id FROM tags WHERE resource_type = {k} AND tag IN ({})",
        list.join(", ")
    );
    if all {
        sub.push_str(&format!(" GROUP BY resource_id HAVING COUNT(*) = {}", wanted.len()));
    }
    f.clause(format!("id {}IN ({sub})", if negate { "NOT " } else { "" }));
    true
}

impl NetworkService {
    /// The resource's project and tags, when the caller can see it; Neutron's
    /// `TagResourceNotFound` otherwise.
    async fn tagged(&self, caller: &AuthContext, kind: TagKind, id: &str) -> Result<(String, Vec<String>)> {
        let found = match kind {
            TagKind::Networks => self.visible_network(caller, id).await.map(|n| (n.project_id, n.tags)),
            TagKind::Subnets => self.visible_subnet(caller, id).await.map(|s| (s.project_id, s.tags)),
            TagKind::Ports => self.visible_port(caller, id).await.map(|p| (p.project_id, p.tags)),
            TagKind::SecurityGroups => self
                .visible_security_group(caller, id)
                .await
                .map(|g| (g.project_id, g.tags)),
        };
        match found {
            Err(NetworkError::NotFound { .. }) => Err(resource_not_found(kind, id)),
            other => other,
        }
    }

    /// The resource's tags after checking `<verb>_<collection>_tags`.
    async fn tags_for(&self, caller: &AuthContext, verb: &str, kind: TagKind, id: &str) -> Result<Vec<String>> {
        let (project, tags) = self.tagged(caller, kind, id).await?;
        self.enforce(&format!("{verb}_{}_tags", kind.collection()), caller, &target(&project))?;
        Ok(tags)
    }

    async fn change(&self, kind: TagKind, id: &str, change: TagChange<'_>) -> Result<Tagged> {
        match db::change_tags(self.db(), kind, id, change, now_micros()).await? {
            Tagged::NoResource => Err(resource_not_found(kind, id)),
            other => Ok(other),
        }
    }

    /// `GET .../tags`.
    pub async fn list_tags(&self, caller: &AuthContext, kind: TagKind, id: &str) -> Result<Vec<String>> {
        self.tags_for(caller, "get", kind, id).await
    }

    /// `GET .../tags/{tag}`: Ok when the resource has the tag.
    pub async fn check_tag(&self, caller: &AuthContext, kind: TagKind, id: &str, tag: &str) -> Result<()> {
        check_tag(tag)?;
        if self.tags_for(caller, "get", kind, id).await?.iter().any(|t| t == tag) {
            Ok(())
        } else {
            Err(tag_not_found(tag))
        }
    }

    /// `PUT .../tags/{tag}`: adds one tag; a tag already there is no change.
    pub async fn add_tag(&self, caller: &AuthContext, kind: TagKind, id: &str, tag: &str) -> Result<()> {
        check_tag(tag)?;
        let have = self.tags_for(caller, "update", kind, id).await?;
        if !have.iter().any(|t| t == tag) {
            let one = [tag.to_owned()];
            self.change(kind, id, TagChange::Add(&one)).await?;
        }
        Ok(())
    }

    /// `POST .../tags` (Neutron's `tag-creation`): adds these tags, keeping the others.
    pub async fn add_tags(
        &self,
        caller: &AuthContext,
        kind: TagKind,
        id: &str,
        tags: Vec<String>,
    ) -> Result<Vec<String>> {
        check_tags(&tags)?;
        let have = self.tags_for(caller, "create", kind, id).await?;
        if tags.iter().any(|t| !have.contains(t)) {
            self.change(kind, id, TagChange::Add(&tags)).await?;
        }
        Ok(tags)
    }

    /// `PUT .../tags`: the resource's tags become exactly `tags`.
    pub async fn replace_tags(
        &self,
        caller: &AuthContext,
        kind: TagKind,
        id: &str,
        tags: Vec<String>,
    ) -> Result<Vec<String>> {
        check_tags(&tags)?;
        let mut have = self.tags_for(caller, "update", kind, id).await?;
        let mut want = tags.clone();
        have.sort_unstable();
        want.sort_unstable();
        if have != want {
            self.change(kind, id, TagChange::Replace(&tags)).await?;
        }
        Ok(tags)
    }

    /// `DELETE .../tags/{tag}`.
    pub async fn remove_tag(&self, caller: &AuthContext, kind: TagKind, id: &str, tag: &str) -> Result<()> {
        check_tag(tag)?;
        let have = self.tags_for(caller, "delete", kind, id).await?;
        if !have.iter().any(|t| t == tag) {
            return Err(tag_not_found(tag));
        }
        match self.change(kind, id, TagChange::Remove(tag)).await? {
            Tagged::NoTag => Err(tag_not_found(tag)),
            _ => Ok(()),
        }
    }

    /// `DELETE .../tags`.
    pub async fn remove_all_tags(&self, caller: &AuthContext, kind: TagKind, id: &str) -> Result<()> {
        if !self.tags_for(caller, "delete", kind, id).await?.is_empty() {
            self.change(kind, id, TagChange::Clear).await?;
        }
        Ok(())
    }
}

fn resource_not_found(kind: TagKind, id: &str) -> NetworkError {
    NetworkError::NotFound {
        kind: "TagResourceNotFound",
        message: format!("Resource {} {id} could not be found.", kind.collection()),
    }
}

fn tag_not_found(tag: &str) -> NetworkError {
    NetworkError::NotFound {
        kind: "TagNotFound",
        message: format!("Tag {tag} could not be found."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_as_neutron_checks_them() {
        assert!(check_tags(&["a".into(), "b".into(), "".into()]).is_ok());
        let long = "x".repeat(MAX_TAG_LEN + 1);
        assert!(check_tag(&"é".repeat(MAX_TAG_LEN)).is_ok(), "characters, not bytes");
        match check_tags(&["a".into(), long]) {
            Err(NetworkError::Invalid { message, .. }) => assert!(message.contains("exceeds maximum length of 255")),
            other => panic!("{other:?}"),
        }
        match check_tags(&["b".into(), "a".into(), "b".into()]) {
            Err(NetworkError::Invalid { message, .. }) => assert!(message.contains("Duplicate items in the list: 'b'")),
            other => panic!("{other:?}"),
        }
    }

    /// Every delete takes its resources' tags in its own transaction: none are left behind.
    async fn deletes_leave_no_tags_behind(backend: stratus_store::Backend) {
        use std::sync::Arc;

        use stratus_api::testing::caller;
        use stratus_store::testing::TestLocation;

        use crate::inputs::{NetworkInput, PortInput, SecurityGroupInput, SubnetInput};
        use crate::{FakeDataplane, NetworkConfig, Page};

        let loc = TestLocation::new(backend).await;
        let policy = stratus_api::policy::Policy::load(crate::DEFAULT_POLICY, None).expect("policy");
        let svc = NetworkService::open(
            &loc.location,
            NetworkConfig::default(),
            policy,
            Arc::new(FakeDataplane::new()),
        )
        .await
        .expect("open");
        let admin = caller("p-admin", &["admin", "member", "reader"]);
        let rows = |svc: NetworkService| async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tags")
                .fetch_one(&svc.db().pool)
                .await
                .expect("count")
        };
        let one = vec!["t".to_owned()];
        let net = svc.create_network(&admin, NetworkInput::default()).await.expect("net");
        let subnet = svc
            .create_subnet(
                &admin,
                SubnetInput {
                    network_id: Some(net.id.clone()),
                    cidr: Some("10.1.0.0/24".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("subnet");
        let port = PortInput {
            network_id: Some(net.id.clone()),
            tags: Some(one.clone()),
            ..Default::default()
        };
        let port = svc.create_port(&admin, port).await.expect("port");
        let dhcp = svc
            .list_ports(
                &admin,
                &vec![("device_owner".into(), "network:dhcp".into())],
                &Page::default(),
            )
            .await
            .expect("ports")
            .pop()
            .expect("the DHCP port");
        let sg = svc
            .create_security_group(&admin, SecurityGroupInput::default())
            .await
            .expect("group");
        svc.replace_tags(&admin, TagKind::Networks, &net.id, one.clone())
            .await
            .expect("tag");
        svc.replace_tags(&admin, TagKind::Subnets, &subnet.id, one.clone())
            .await
            .expect("tag");
        svc.replace_tags(&admin, TagKind::Ports, &dhcp.id, one.clone())
            .await
            .expect("tag");
        svc.replace_tags(&admin, TagKind::SecurityGroups, &sg.id, one.clone())
            .await
            .expect("tag");
        assert_eq!(rows(svc.clone()).await, 5);
        svc.delete_port(&admin, &port.id).await.expect("port");
        assert_eq!(rows(svc.clone()).await, 4);
        svc.delete_security_group(&admin, &sg.id).await.expect("group");
        assert_eq!(rows(svc.clone()).await, 3);
        // The network goes with its subnet and DHCP port, and all their tags.
        svc.delete_network(&admin, &net.id).await.expect("network");
        assert_eq!(rows(svc.clone()).await, 0);
        svc.close().await;
        loc.cleanup().await;
    }

    #[tokio::test]
    async fn deletes_leave_no_tags_behind_on_sqlite() {
        deletes_leave_no_tags_behind(stratus_store::Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn deletes_leave_no_tags_behind_on_postgres() {
        deletes_leave_no_tags_behind(stratus_store::Backend::Postgres).await;
    }

    #[test]
    fn filters_match_all_or_any_and_negate() {
        let mut f = Filters::new();
        assert!(tag_filter(&mut f, TagKind::Ports, "tags", "red,blue,red"));
        assert_eq!(
            f.sql(),
            " WHERE id IN (SELECT resource_id FROM tags WHERE resource_type = $1 AND tag IN ($2, $3) \
             GROUP BY resource_id HAVING COUNT(*) = 2)"
        );
        let mut f = Filters::new();
        assert!(tag_filter(&mut f, TagKind::Networks, "not-tags-any", "red"));
        assert_eq!(
            f.sql(),
            " WHERE id NOT IN (SELECT resource_id FROM tags WHERE resource_type = $1 AND tag IN ($2))"
        );
        assert!(!tag_filter(&mut Filters::new(), TagKind::Networks, "name", "x"));
    }
}
