//! CRUD paths of Identity's resources and role assignments.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::pagination;
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::model::*;
use stratus_identity::{AssignmentFilter, ListFilter};

use crate::{flag, page, self_url, views, ApiState, Query};

type Out = Result<Json<Value>, ApiError>;

macro_rules! body {
    ($name:ident, $key:ident, $ty:ty) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $key: $ty,
        }
    };
}
body!(DomainBody, domain, DomainInput);
body!(ProjectBody, project, ProjectInput);
body!(UserBody, user, UserInput);
body!(GroupBody, group, GroupInput);
body!(RoleBody, role, RoleInput);
body!(RegionBody, region, RegionInput);
body!(ServiceBody, service, ServiceInput);
body!(EndpointBody, endpoint, EndpointInput);

fn filter(q: &Query) -> Result<ListFilter, ApiError> {
    let s = |k: &str| q.get(k).cloned();
    Ok(ListFilter {
        name: s("name"),
        domain_id: s("domain_id"),
        enabled: flag(q, "enabled")?,
        parent_id: s("parent_id").or_else(|| s("parent_region_id")),
        service_type: s("type"),
        interface: s("interface"),
        service_id: s("service_id"),
        region_id: s("region_id"),
        is_domain: flag(q, "is_domain")?,
    })
}

/// A list response with pagination links.
fn listing<T>(
    s: &ApiState,
    uri: &OriginalUri,
    key: &str,
    items: Vec<T>,
    req: &pagination::PageRequest,
    id: impl Fn(&T) -> String,
    view: impl Fn(&str, &T) -> Value,
) -> Json<Value> {
    let (items, links) = pagination::page(items, req, &self_url(s, uri), id);
    Json(json!({key: items.iter().map(|i| view(&s.base, i)).collect::<Vec<_>>(), "links": links}))
}

fn created(key: &str, v: Value) -> Response {
    (StatusCode::CREATED, Json(json!({key: v}))).into_response()
}

// ---------------------------------------------------------------- domains

async fn list_domains(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_domains(&c, filter(&q)?, &p).await?;
    Ok(listing(&s, &uri, "domains", items, &p, |d| d.id.clone(), views::domain))
}
async fn create_domain(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<DomainBody>,
) -> Result<Response, ApiError> {
    let d = s.svc.create_domain(&c, b.domain).await?;
    Ok(created("domain", views::domain(&s.base, &d)))
}
async fn get_domain(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"domain": views::domain(&s.base, &s.svc.get_domain(&c, &id).await?)}),
    ))
}
async fn update_domain(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<DomainBody>,
) -> Out {
    Ok(Json(
        json!({"domain": views::domain(&s.base, &s.svc.update_domain(&c, &id, b.domain).await?)}),
    ))
}
async fn delete_domain(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_domain(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- projects

async fn list_projects(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_projects(&c, filter(&q)?, &p).await?;
    Ok(listing(
        &s,
        &uri,
        "projects",
        items,
        &p,
        |x| x.id.clone(),
        views::project,
    ))
}
async fn create_project(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<ProjectBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_project(&c, b.project).await?;
    Ok(created("project", views::project(&s.base, &x)))
}
async fn get_project(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"project": views::project(&s.base, &s.svc.get_project(&c, &id).await?)}),
    ))
}
async fn update_project(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ProjectBody>,
) -> Out {
    Ok(Json(
        json!({"project": views::project(&s.base, &s.svc.update_project(&c, &id, b.project).await?)}),
    ))
}
async fn delete_project(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_project(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- users

async fn list_users(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_users(&c, filter(&q)?, &p).await?;
    Ok(listing(&s, &uri, "users", items, &p, |x| x.id.clone(), views::user))
}
async fn create_user(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<UserBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_user(&c, b.user).await?;
    Ok(created("user", views::user(&s.base, &x)))
}
async fn get_user(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"user": views::user(&s.base, &s.svc.get_user(&c, &id).await?)}),
    ))
}
async fn update_user(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<UserBody>,
) -> Out {
    Ok(Json(
        json!({"user": views::user(&s.base, &s.svc.update_user(&c, &id, b.user).await?)}),
    ))
}
async fn delete_user(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_user(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn user_projects(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, uri: OriginalUri) -> Out {
    let items = s.svc.user_projects(&c, &id).await?;
    Ok(listing(
        &s,
        &uri,
        "projects",
        items,
        &Default::default(),
        |x| x.id.clone(),
        views::project,
    ))
}
async fn user_groups(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, uri: OriginalUri) -> Out {
    let items = s.svc.user_groups(&c, &id).await?;
    Ok(listing(
        &s,
        &uri,
        "groups",
        items,
        &Default::default(),
        |x| x.id.clone(),
        views::group,
    ))
}

// ---------------------------------------------------------------- groups

async fn list_groups(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_groups(&c, filter(&q)?, &p).await?;
    Ok(listing(&s, &uri, "groups", items, &p, |x| x.id.clone(), views::group))
}
async fn create_group(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<GroupBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_group(&c, b.group).await?;
    Ok(created("group", views::group(&s.base, &x)))
}
async fn get_group(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"group": views::group(&s.base, &s.svc.get_group(&c, &id).await?)}),
    ))
}
async fn update_group(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<GroupBody>,
) -> Out {
    Ok(Json(
        json!({"group": views::group(&s.base, &s.svc.update_group(&c, &id, b.group).await?)}),
    ))
}
async fn delete_group(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_group(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn group_users(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, uri: OriginalUri) -> Out {
    let items = s.svc.group_users(&c, &id).await?;
    Ok(listing(
        &s,
        &uri,
        "users",
        items,
        &Default::default(),
        |x| x.id.clone(),
        views::user,
    ))
}
async fn add_member(
    State(s): State<ApiState>,
    c: Caller,
    Path((g, u)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.add_user_to_group(&c, &g, &u).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn check_member(
    State(s): State<ApiState>,
    c: Caller,
    Path((g, u)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.check_user_in_group(&c, &g, &u).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn remove_member(
    State(s): State<ApiState>,
    c: Caller,
    Path((g, u)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.remove_user_from_group(&c, &g, &u).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- roles

async fn list_roles(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_roles(&c, filter(&q)?, &p).await?;
    Ok(listing(&s, &uri, "roles", items, &p, |x| x.id.clone(), views::role))
}
async fn create_role(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<RoleBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_role(&c, b.role).await?;
    Ok(created("role", views::role(&s.base, &x)))
}
async fn get_role(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"role": views::role(&s.base, &s.svc.get_role(&c, &id).await?)}),
    ))
}
async fn update_role(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<RoleBody>,
) -> Out {
    Ok(Json(
        json!({"role": views::role(&s.base, &s.svc.update_role(&c, &id, b.role).await?)}),
    ))
}
async fn delete_role(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_role(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn inference(base: &str, prior: &Role, implies: &[Role]) -> Value {
    json!({"prior_role": views::role_ref(base, prior), "implies": implies.iter().map(|r| views::role_ref(base, r)).collect::<Vec<_>>()})
}
async fn put_implied(
    State(s): State<ApiState>,
    c: Caller,
    Path((p, i)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (pr, ir) = s.svc.create_implied_role(&c, &p, &i).await?;
    Ok(created(
        "role_inference",
        json!({"prior_role": views::role_ref(&s.base, &pr), "implies": views::role_ref(&s.base, &ir)}),
    ))
}
async fn get_implied(State(s): State<ApiState>, c: Caller, Path((p, i)): Path<(String, String)>) -> Out {
    let (pr, ir) = s.svc.check_implied_role(&c, &p, &i).await?;
    Ok(Json(
        json!({"role_inference": {"prior_role": views::role_ref(&s.base, &pr), "implies": views::role_ref(&s.base, &ir)}}),
    ))
}
/// HEAD of an inference rule: Keystone's check answers 204, where GET answers the rule.
async fn head_implied(
    State(s): State<ApiState>,
    c: Caller,
    Path((p, i)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.check_implied_role(&c, &p, &i).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn delete_implied(
    State(s): State<ApiState>,
    c: Caller,
    Path((p, i)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_implied_role(&c, &p, &i).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn list_implied(State(s): State<ApiState>, c: Caller, Path(p): Path<String>) -> Out {
    let list = s.svc.list_implied_roles(&c, Some(&p)).await?;
    let (prior, implies) = match list.into_iter().next() {
        Some(x) => x,
        None => (s.svc.get_role(&c, &p).await?, vec![]),
    };
    Ok(Json(json!({"role_inference": inference(&s.base, &prior, &implies)})))
}
async fn role_inferences(State(s): State<ApiState>, c: Caller) -> Out {
    let list = s.svc.list_implied_roles(&c, None).await?;
    Ok(Json(
        json!({"role_inferences": list.iter().map(|(p, i)| inference(&s.base, p, i)).collect::<Vec<_>>()}),
    ))
}

// ---------------------------------------------------------------- grants

fn grant(actor: ActorKind, actor_id: String, target: TargetKind, target_id: String, role_id: String) -> Assignment {
    Assignment::new(actor, actor_id, target, target_id, role_id)
}

fn inherited_grant(
    actor: ActorKind,
    actor_id: String,
    target: TargetKind,
    target_id: String,
    role_id: String,
) -> Assignment {
    Assignment {
        inherited: true,
        ..Assignment::new(actor, actor_id, target, target_id, role_id)
    }
}

/// PUT, HEAD/GET, DELETE and list of one kind of grant; `$make` is [`grant`] or
/// [`inherited_grant`] (OS-INHERIT's `inherited_to_projects` paths).
macro_rules! grant_handlers {
    ($put:ident, $head:ident, $del:ident, $list:ident, $actor:expr, $target:expr) => {
        grant_handlers!($put, $head, $del, $list, $actor, $target, grant, false);
    };
    ($put:ident, $head:ident, $del:ident, $list:ident, $actor:expr, $target:expr, $make:ident, $inherited:expr) => {
        async fn $put(
            State(s): State<ApiState>,
            c: Caller,
            Path((t, a, r)): Path<(String, String, String)>,
        ) -> Result<StatusCode, ApiError> {
            s.svc.create_grant(&c, $make($actor, a, $target, t, r)).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        async fn $head(
            State(s): State<ApiState>,
            c: Caller,
            Path((t, a, r)): Path<(String, String, String)>,
        ) -> Result<StatusCode, ApiError> {
            s.svc.check_grant(&c, $make($actor, a, $target, t, r)).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        async fn $del(
            State(s): State<ApiState>,
            c: Caller,
            Path((t, a, r)): Path<(String, String, String)>,
        ) -> Result<StatusCode, ApiError> {
            s.svc.revoke_grant(&c, $make($actor, a, $target, t, r)).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        async fn $list(
            State(s): State<ApiState>,
            c: Caller,
            Path((t, a)): Path<(String, String)>,
            uri: OriginalUri,
        ) -> Out {
            let roles = s.svc.list_grants(&c, $actor, &a, $target, &t, $inherited).await?;
            Ok(listing(
                &s,
                &uri,
                "roles",
                roles,
                &Default::default(),
                |x| x.id.clone(),
                views::role,
            ))
        }
    };
}
grant_handlers!(put_pu, head_pu, del_pu, list_pu, ActorKind::User, TargetKind::Project);
grant_handlers!(put_pg, head_pg, del_pg, list_pg, ActorKind::Group, TargetKind::Project);
grant_handlers!(put_du, head_du, del_du, list_du, ActorKind::User, TargetKind::Domain);
grant_handlers!(put_dg, head_dg, del_dg, list_dg, ActorKind::Group, TargetKind::Domain);
grant_handlers!(
    put_idu,
    head_idu,
    del_idu,
    list_idu,
    ActorKind::User,
    TargetKind::Domain,
    inherited_grant,
    true
);
grant_handlers!(
    put_idg,
    head_idg,
    del_idg,
    list_idg,
    ActorKind::Group,
    TargetKind::Domain,
    inherited_grant,
    true
);
grant_handlers!(
    put_ipu,
    head_ipu,
    del_ipu,
    list_ipu,
    ActorKind::User,
    TargetKind::Project,
    inherited_grant,
    true
);
grant_handlers!(
    put_ipg,
    head_ipg,
    del_ipg,
    list_ipg,
    ActorKind::Group,
    TargetKind::Project,
    inherited_grant,
    true
);

/// The grants of the system scope (target `all`), for users and for groups.
macro_rules! system_grant_handlers {
    ($put:ident, $head:ident, $del:ident, $list:ident, $actor:expr) => {
        async fn $put(
            State(s): State<ApiState>,
            c: Caller,
            Path((a, r)): Path<(String, String)>,
        ) -> Result<StatusCode, ApiError> {
            s.svc
                .create_grant(&c, grant($actor, a, TargetKind::System, SYSTEM_ALL.into(), r))
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        async fn $head(
            State(s): State<ApiState>,
            c: Caller,
            Path((a, r)): Path<(String, String)>,
        ) -> Result<StatusCode, ApiError> {
            s.svc
                .check_grant(&c, grant($actor, a, TargetKind::System, SYSTEM_ALL.into(), r))
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        async fn $del(
            State(s): State<ApiState>,
            c: Caller,
            Path((a, r)): Path<(String, String)>,
        ) -> Result<StatusCode, ApiError> {
            s.svc
                .revoke_grant(&c, grant($actor, a, TargetKind::System, SYSTEM_ALL.into(), r))
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        async fn $list(State(s): State<ApiState>, c: Caller, Path(a): Path<String>, uri: OriginalUri) -> Out {
            let roles = s
                .svc
                .list_grants(&c, $actor, &a, TargetKind::System, SYSTEM_ALL, false)
                .await?;
            Ok(listing(
                &s,
                &uri,
                "roles",
                roles,
                &Default::default(),
                |x| x.id.clone(),
                views::role,
            ))
        }
    };
}
system_grant_handlers!(put_su, head_su, del_su, list_su, ActorKind::User);
system_grant_handlers!(put_sg, head_sg, del_sg, list_sg, ActorKind::Group);

async fn role_assignments(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    const KNOWN: [&str; 10] = [
        "user.id",
        "group.id",
        "scope.project.id",
        "scope.domain.id",
        "scope.system",
        "role.id",
        "effective",
        "include_names",
        "scope.OS-INHERIT:inherited_to",
        "include_subtree",
    ];
    if let Some(k) = q.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Unsupported filter '{k}' on role assignments."
        )));
    }
    let f = AssignmentFilter {
        user_id: q.get("user.id").cloned(),
        group_id: q.get("group.id").cloned(),
        project_id: q.get("scope.project.id").cloned(),
        domain_id: q.get("scope.domain.id").cloned(),
        system: q.contains_key("scope.system"),
        role_id: q.get("role.id").cloned(),
        effective: flag(&q, "effective")?.unwrap_or(false),
        inherited_only: match q.get("scope.OS-INHERIT:inherited_to").map(String::as_str) {
            None => false,
            Some("projects") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid value '{other}' for scope.OS-INHERIT:inherited_to: it is 'projects'."
                )))
            }
        },
    };
    let names = flag(&q, "include_names")?.unwrap_or(false);
    let mut out = vec![];
    for a in s.svc.list_role_assignments(&c, f).await? {
        // The grant a row comes from: the inherited one it was expanded from, or itself.
        let (source_kind, source_id, inherited) = match &a.inherited_from {
            Some((k, id)) => (*k, id.as_str(), true),
            None => (a.target_kind, a.target_id.as_str(), a.inherited),
        };
        let assignment_actor = match &a.via_group {
            Some(g) => format!("groups/{g}"),
            None => format!("{}s/{}", a.actor_kind.as_str(), a.actor_id),
        };
        let link = if inherited {
            format!(
                "{}/OS-INHERIT/{}s/{source_id}/{assignment_actor}/roles/{}/inherited_to_projects",
                s.base,
                source_kind.as_str(),
                a.role_id
            )
        } else {
            format!(
                "{}/{}s/{source_id}/{assignment_actor}/roles/{}",
                s.base,
                source_kind.as_str(),
                a.role_id
            )
        };
        let mut v = json!({"role": {"id": a.role_id}, "links": {"assignment": link}});
        let actor_key = a.actor_kind.as_str();
        v[actor_key] = json!({"id": a.actor_id});
        v["scope"] = match a.target_kind {
            TargetKind::System => json!({"system": {"all": true}}),
            k => json!({k.as_str(): {"id": a.target_id}}),
        };
        if a.inherited {
            v["scope"]["OS-INHERIT:inherited_to"] = json!("projects");
        }
        if let Some(g) = &a.via_group {
            v["links"]["membership"] = json!(format!("{}/groups/{g}/users/{}", s.base, a.actor_id));
        }
        if names {
            let (role, actor, target) = s.svc.assignment_names(&a).await?;
            v["role"]["name"] = json!(role.name);
            v[actor_key]["name"] = json!(actor.name);
            if let Some((id, name)) = actor.domain {
                v[actor_key]["domain"] = json!({"id": id, "name": name});
            }
            if a.target_kind != TargetKind::System {
                let k = a.target_kind.as_str();
                v["scope"][k]["name"] = json!(target.name);
                if let Some((id, name)) = target.domain {
                    v["scope"][k]["domain"] = json!({"id": id, "name": name});
                }
            }
        }
        out.push(v);
    }
    Ok(Json(
        json!({"role_assignments": out, "links": {"self": self_url(&s, &uri), "next": null, "previous": null}}),
    ))
}

// ---------------------------------------------------------------- project tags

fn tags_view(s: &ApiState, id: &str, tags: &[String]) -> Json<Value> {
    Json(json!({"tags": tags, "links": {"self": format!("{}/projects/{id}/tags", s.base)}}))
}
async fn list_project_tags(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let tags = s.svc.project_tags(&c, &id).await?;
    Ok(tags_view(&s, &id, &tags))
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}
async fn replace_project_tags(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<TagsBody>,
) -> Out {
    let tags = s.svc.change_project_tags(&c, &id, Some(b.tags), None, None).await?;
    Ok(tags_view(&s, &id, &tags))
}
async fn clear_project_tags(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.svc.change_project_tags(&c, &id, Some(vec![]), None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn check_project_tag(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if s.svc.project_tags(&c, &id).await?.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("Could not find project tag: {tag}.")))
    }
}
async fn add_project_tag(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    s.svc.change_project_tags(&c, &id, None, Some(&tag), None).await?;
    let location = format!("{}/projects/{id}/tags/{tag}", s.base);
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)]).into_response())
}
async fn remove_project_tag(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.change_project_tags(&c, &id, None, None, Some(&tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- catalog

async fn list_regions(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_regions(&c, filter(&q)?, &p).await?;
    Ok(listing(&s, &uri, "regions", items, &p, |x| x.id.clone(), views::region))
}
async fn create_region(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<RegionBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_region(&c, b.region).await?;
    Ok(created("region", views::region(&s.base, &x)))
}
/// `PUT /regions/{id}`: a region made with the id the caller chose.
async fn put_region(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<RegionBody>,
) -> Result<Response, ApiError> {
    let mut input = b.region;
    if input.id.as_deref().is_some_and(|given| given != id) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field 'region.id': it does not match the region id in the path ({id})."
        )));
    }
    input.id = Some(id);
    let x = s.svc.create_region(&c, input).await?;
    Ok(created("region", views::region(&s.base, &x)))
}
async fn get_region(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"region": views::region(&s.base, &s.svc.get_region(&c, &id).await?)}),
    ))
}
async fn update_region(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<RegionBody>,
) -> Out {
    Ok(Json(
        json!({"region": views::region(&s.base, &s.svc.update_region(&c, &id, b.region).await?)}),
    ))
}
async fn delete_region(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_region(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn list_services(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_services(&c, filter(&q)?, &p).await?;
    Ok(listing(
        &s,
        &uri,
        "services",
        items,
        &p,
        |x| x.id.clone(),
        views::service,
    ))
}
async fn create_service(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<ServiceBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_service(&c, b.service).await?;
    Ok(created("service", views::service(&s.base, &x)))
}
async fn get_service(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"service": views::service(&s.base, &s.svc.get_service(&c, &id).await?)}),
    ))
}
async fn update_service(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ServiceBody>,
) -> Out {
    Ok(Json(
        json!({"service": views::service(&s.base, &s.svc.update_service(&c, &id, b.service).await?)}),
    ))
}
async fn delete_service(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_service(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
async fn list_endpoints(State(s): State<ApiState>, c: Caller, q: Query, uri: OriginalUri) -> Out {
    let p = page(&q)?;
    let items = s.svc.list_endpoints(&c, filter(&q)?, &p).await?;
    Ok(listing(
        &s,
        &uri,
        "endpoints",
        items,
        &p,
        |x| x.id.clone(),
        views::endpoint,
    ))
}
async fn create_endpoint(
    State(s): State<ApiState>,
    c: Caller,
    ValidJson(b): ValidJson<EndpointBody>,
) -> Result<Response, ApiError> {
    let x = s.svc.create_endpoint(&c, b.endpoint).await?;
    Ok(created("endpoint", views::endpoint(&s.base, &x)))
}
async fn get_endpoint(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    Ok(Json(
        json!({"endpoint": views::endpoint(&s.base, &s.svc.get_endpoint(&c, &id).await?)}),
    ))
}
async fn update_endpoint(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<EndpointBody>,
) -> Out {
    Ok(Json(
        json!({"endpoint": views::endpoint(&s.base, &s.svc.update_endpoint(&c, &id, b.endpoint).await?)}),
    ))
}
async fn delete_endpoint(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_endpoint(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/domains", get(list_domains).post(create_domain))
        .route(
            "/domains/{id}",
            get(get_domain).patch(update_domain).delete(delete_domain),
        )
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{id}",
            get(get_project).patch(update_project).delete(delete_project),
        )
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).patch(update_user).delete(delete_user))
        .route("/users/{id}/projects", get(user_projects))
        .route("/users/{id}/groups", get(user_groups))
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/{id}", get(get_group).patch(update_group).delete(delete_group))
        .route("/groups/{id}/users", get(group_users))
        .route(
            "/groups/{g}/users/{u}",
            put(add_member).head(check_member).delete(remove_member),
        )
        .route("/roles", get(list_roles).post(create_role))
        .route("/roles/{id}", get(get_role).patch(update_role).delete(delete_role))
        .route("/roles/{id}/implies", get(list_implied))
        .route(
            "/roles/{p}/implies/{i}",
            put(put_implied)
                .get(get_implied)
                .head(head_implied)
                .delete(delete_implied),
        )
        .route("/role_inferences", get(role_inferences))
        .route("/projects/{t}/users/{a}/roles", get(list_pu))
        .route(
            "/projects/{t}/users/{a}/roles/{r}",
            put(put_pu).head(head_pu).get(head_pu).delete(del_pu),
        )
        .route("/projects/{t}/groups/{a}/roles", get(list_pg))
        .route(
            "/projects/{t}/groups/{a}/roles/{r}",
            put(put_pg).head(head_pg).get(head_pg).delete(del_pg),
        )
        .route("/domains/{t}/users/{a}/roles", get(list_du))
        .route(
            "/domains/{t}/users/{a}/roles/{r}",
            put(put_du).head(head_du).get(head_du).delete(del_du),
        )
        .route("/domains/{t}/groups/{a}/roles", get(list_dg))
        .route(
            "/domains/{t}/groups/{a}/roles/{r}",
            put(put_dg).head(head_dg).get(head_dg).delete(del_dg),
        )
        .route(
            "/system/users/{a}/roles/{r}",
            put(put_su).head(head_su).get(head_su).delete(del_su),
        )
        .route("/system/users/{a}/roles", get(list_su))
        .route(
            "/system/groups/{a}/roles/{r}",
            put(put_sg).head(head_sg).get(head_sg).delete(del_sg),
        )
        .route("/system/groups/{a}/roles", get(list_sg))
        .route(
            "/projects/{id}/tags",
            get(list_project_tags)
                .put(replace_project_tags)
                .delete(clear_project_tags),
        )
        .route(
            "/projects/{id}/tags/{tag}",
            get(check_project_tag)
                .head(check_project_tag)
                .put(add_project_tag)
                .delete(remove_project_tag),
        )
        .route("/role_assignments", get(role_assignments))
        // OS-INHERIT: grants inherited by the projects under a domain or a project.
        .route(
            "/OS-INHERIT/domains/{t}/users/{a}/roles/{r}/inherited_to_projects",
            put(put_idu).head(head_idu).get(head_idu).delete(del_idu),
        )
        .route(
            "/OS-INHERIT/domains/{t}/users/{a}/roles/inherited_to_projects",
            get(list_idu),
        )
        .route(
            "/OS-INHERIT/domains/{t}/groups/{a}/roles/{r}/inherited_to_projects",
            put(put_idg).head(head_idg).get(head_idg).delete(del_idg),
        )
        .route(
            "/OS-INHERIT/domains/{t}/groups/{a}/roles/inherited_to_projects",
            get(list_idg),
        )
        .route(
            "/OS-INHERIT/projects/{t}/users/{a}/roles/{r}/inherited_to_projects",
            put(put_ipu).head(head_ipu).get(head_ipu).delete(del_ipu),
        )
        .route(
            "/OS-INHERIT/projects/{t}/groups/{a}/roles/{r}/inherited_to_projects",
            put(put_ipg).head(head_ipg).get(head_ipg).delete(del_ipg),
        )
        .route(
            "/OS-INHERIT/projects/{t}/users/{a}/roles/inherited_to_projects",
            get(list_ipu),
        )
        .route(
            "/OS-INHERIT/projects/{t}/groups/{a}/roles/inherited_to_projects",
            get(list_ipg),
        )
        .route("/regions", get(list_regions).post(create_region))
        .route(
            "/regions/{id}",
            get(get_region)
                .put(put_region)
                .patch(update_region)
                .delete(delete_region),
        )
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{id}",
            get(get_service).patch(update_service).delete(delete_service),
        )
        .route("/endpoints", get(list_endpoints).post(create_endpoint))
        .route(
            "/endpoints/{id}",
            get(get_endpoint).patch(update_endpoint).delete(delete_endpoint),
        )
}
