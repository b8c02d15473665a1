//! Keystone's JSON shapes for Identity's resources.

use serde_json::{json, Value};
use stratus_api::auth::Scope;
use stratus_identity::model::*;
use stratus_identity::{format_time, CatalogEntry, TokenData};

/// A resource's extra attributes beside its own: its own keys win, so an extra can never
/// stand in for `id` or `links`.
fn with_extra(mut v: Value, extra: &Extra) -> Value {
    if let Value::Object(o) = &mut v {
        for (k, x) in extra {
            o.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

fn link(base: &str, path: &str) -> Value {
    json!({"self": format!("{base}/{path}")})
}

pub fn domain(base: &str, d: &Domain) -> Value {
    with_extra(
        json!({
            "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": [], "options": {}, "links": link(base, &format!("domains/{}", d.id)),
        }),
        &d.extra,
    )
}

pub fn project(base: &str, p: &Project) -> Value {
    // A project acting as a domain has neither domain nor parent; a top-level project's
    // parent is its domain.
    let (domain_id, parent_id) = if p.is_domain {
        (None, None)
    } else {
        (Some(p.domain_id.clone()), Some(p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone())))
    };
    with_extra(
        json!({
            "id": p.id, "name": p.name, "domain_id": domain_id, "parent_id": parent_id,
            "description": p.description, "enabled": p.enabled, "is_domain": p.is_domain, "tags": p.tags,
            "options": {}, "links": link(base, &format!("projects/{}", p.id)),
        }),
        &p.extra,
    )
}

pub fn user(base: &str, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": u.password_expires_at.map(stratus_api::time::micros_naive),
        "options": u.options, "links": link(base, &format!("users/{}", u.id)),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if let Some(d) = &u.description {
        v["description"] = json!(d);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    with_extra(v, &u.extra)
}

pub fn group(base: &str, g: &Group) -> Value {
    with_extra(
        json!({
            "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
            "links": link(base, &format!("groups/{}", g.id)),
        }),
        &g.extra,
    )
}

pub fn role(base: &str, r: &Role) -> Value {
    with_extra(
        json!({
            "id": r.id, "name": r.name, "description": r.description, "domain_id": r.domain_id, "options": {},
            "links": link(base, &format!("roles/{}", r.id)),
        }),
        &r.extra,
    )
}

pub fn role_ref(base: &str, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": link(base, &format!("roles/{}", r.id))})
}

pub fn region(base: &str, r: &Region) -> Value {
    with_extra(
        json!({
            "id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": link(base, &format!("regions/{}", r.id)),
        }),
        &r.extra,
    )
}

pub fn service(base: &str, s: &Service) -> Value {
    with_extra(
        json!({
            "id": s.id, "type": s.service_type, "name": s.name, "description": s.description, "enabled": s.enabled,
            "links": link(base, &format!("services/{}", s.id)),
        }),
        &s.extra,
    )
}

pub fn endpoint(base: &str, e: &Endpoint) -> Value {
    with_extra(
        json!({
            "id": e.id, "service_id": e.service_id, "interface": e.interface, "region_id": e.region_id,
            "region": e.region_id, "url": e.url, "enabled": e.enabled,
            "links": link(base, &format!("endpoints/{}", e.id)),
        }),
        &e.extra,
    )
}

pub fn app_cred(base: &str, a: &ApplicationCredential) -> Value {
    json!({
        "id": a.id, "name": a.name, "user_id": a.user_id, "project_id": a.project_id,
        "description": a.description,
        // Keystone writes an application credential's expiry as its naive datetime: no zone.
        "expires_at": a.expires_at.map(stratus_api::time::micros_naive),
        "unrestricted": a.unrestricted,
        "access_rules": a.access_rules.iter()
            .map(|r| json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method}))
            .collect::<Vec<_>>(),
        "roles": a.roles.iter().map(|r| json!({"id": r.id, "name": r.name, "domain_id": null})).collect::<Vec<_>>(),
        "links": link(base, &format!("users/{}/application_credentials/{}", a.user_id, a.id)),
    })
}

pub fn catalog(c: &[CatalogEntry]) -> Value {
    json!(c)
}

/// The `token` object of token responses.
pub fn token(data: &TokenData, catalog: Option<&[CatalogEntry]>) -> Value {
    let c = &data.ctx;
    let mut t = json!({
        "methods": c.methods,
        "user": {
            "id": c.user_id, "name": c.user_name,
            "password_expires_at": data.password_expires_at.map(stratus_api::time::micros_naive),
            "domain": {"id": c.user_domain_id, "name": c.user_domain_name},
        },
        "audit_ids": c.audit_ids,
        "issued_at": format_time(c.issued_at),
        "expires_at": format_time(c.expires_at),
    });
    match &c.scope {
        Scope::Unscoped => {}
        Scope::Project {
            id,
            name,
            domain_id,
            domain_name,
        } => {
            t["project"] = json!({"id": id, "name": name, "domain": {"id": domain_id, "name": domain_name}});
            t["is_domain"] = json!(false);
        }
        Scope::Domain { id, name } => t["domain"] = json!({"id": id, "name": name}),
        Scope::System => t["system"] = json!({"all": true}),
    }
    if c.scope != Scope::Unscoped {
        t["roles"] = json!(c
            .roles
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect::<Vec<_>>());
    }
    if let Some((id, name, restricted)) = &data.application_credential {
        t["application_credential"] = json!({"id": id, "name": name, "restricted": restricted});
        if let Some(rules) = c.access_rules.as_ref().filter(|r| !r.is_empty()) {
            t["application_credential"]["access_rules"] = json!(rules
                .iter()
                .map(|r| json!({"id": r.id, "service": r.service, "path": r.path, "method": r.method}))
                .collect::<Vec<_>>());
        }
    }
    if let Some(tr) = &data.trust {
        t["OS-TRUST:trust"] = json!({
            "id": tr.id, "impersonation": tr.impersonation,
            "trustor_user": {"id": tr.trustor_user_id}, "trustee_user": {"id": tr.trustee_user_id},
        });
    }
    if let Some((access, consumer)) = &data.oauth {
        t["OS-OAUTH1"] = json!({"access_token_id": access, "consumer_id": consumer});
    }
    if let Some(cat) = catalog {
        t["catalog"] = json!(cat);
    }
    json!({"token": t})
}
