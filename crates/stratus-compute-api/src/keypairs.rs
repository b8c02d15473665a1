//! Keypairs: import or generate, list, show and delete; a user's own, or another user's for
//! administrators (microversion 2.10). Keys are shown exactly as they were given.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::keyed_json;
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, Caller};
use stratus_compute::{KeyType, Keypair, NewKeypair};

use crate::{fail, reply, ApiState, Out};

fn summary(k: &Keypair, mv: Microversion) -> Value {
    let mut o = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2, 2) {
        o["type"] = json!(k.key_type);
    }
    o
}

/// The query parameters Nova reads at `mv`. Before 2.75 its schema lets any other parameter
/// through (and ignores it); from 2.75 another parameter is a 400.
fn query(raw: Option<&str>, mv: Microversion) -> Result<Vec<(String, String)>, ApiError> {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
    let mut kept = Vec::with_capacity(q.len());
    for (k, v) in q {
        let known = match k.as_str() {
            "user_id" => mv.at_least(2, 10),
            // The SDK pages keypairs at 2.10 already; paging is honoured at every version.
            "limit" | "marker" => true,
            _ => false,
        };
        if known {
            kept.push((k, v));
        } else if mv.at_least(2, 75) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Additional properties are not allowed at microversion {mv}."
            )));
        }
    }
    Ok(kept)
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

/// A string that may be absent but not `null`, as Nova's schema types `public_key`.
fn some_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeypairCreate {
    name: String,
    #[serde(default, deserialize_with = "some_string")]
    public_key: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "some_string")]
    key_type: Option<String>,
    #[serde(default, deserialize_with = "some_string")]
    user_id: Option<String>,
}

/// Nova's create: import a public key, or (before 2.92) generate a keypair and return its
/// private key once. `type` from 2.2, `user_id` from 2.10; 201 from 2.2, 200 before.
pub(crate) async fn create_keypair(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    let b: KeypairCreate = keyed_json(req, "keypair").await?;
    if b.key_type.is_some() && !mv.at_least(2, 2) {
        return Err(ApiError::bad_request("Invalid input: 'type' needs microversion 2.2."));
    }
    if b.user_id.is_some() && !mv.at_least(2, 10) {
        return Err(ApiError::bad_request(
            "Invalid input: 'user_id' needs microversion 2.10.",
        ));
    }
    let key_type = match b.key_type.as_deref() {
        None => KeyType::Ssh,
        Some(t) => KeyType::parse(t).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute type. Value: {t}. '{t}' is not one of ['ssh', 'x509']"
            ))
        })?,
    };
    // 2.92 let names have '.' and '@', and stopped generating keys.
    if !mv.at_least(2, 92) && b.name.contains(['.', '@']) {
        return Err(ApiError::bad_request(
            "Keypair data is invalid: Keypair name contains unsafe characters ('.' and '@' need microversion 2.92).",
        ));
    }
    if b.public_key.is_none() && mv.at_least(2, 92) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute keypair: 'public_key' is a required property",
        ));
    }
    let made = s
        .svc
        .create_keypair(
            &c,
            NewKeypair {
                name: &b.name,
                key_type,
                public_key: b.public_key.as_deref(),
                user_id: b.user_id.as_deref(),
            },
        )
        .await
        .map_err(fail)?;
    let mut o = summary(&made.keypair, mv);
    o["user_id"] = json!(made.keypair.user_id);
    if let Some(private_key) = made.private_key {
        o["private_key"] = json!(private_key);
    }
    let status = if mv.at_least(2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply(status, json!({ "keypair": o })))
}

pub(crate) async fn list_keypairs(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = query(raw.as_deref(), mv)?;
    let limit = get(&q, "limit")
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| ApiError::bad_request(format!("Invalid limit [{v}]")))
        })
        .transpose()?;
    let mut keys = s
        .svc
        .list_keypairs(&c, get(&q, "user_id"), get(&q, "marker"), limit)
        .await
        .map_err(fail)?;
    let more = limit.is_some_and(|l| keys.len() > l as usize);
    if let Some(l) = limit {
        keys.truncate(l as usize);
    }
    let items: Vec<Value> = keys.iter().map(|k| json!({"keypair": summary(k, mv)})).collect();
    let mut out = json!({ "keypairs": items });
    if more {
        if let Some(last) = keys.last() {
            out["keypairs_links"] =
                stratus_api::pagination::next_link(&format!("{}/os-keypairs", s.base), &q, &last.name);
        }
    }
    Ok(reply(StatusCode::OK, out))
}

pub(crate) async fn show_keypair(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = query(raw.as_deref(), mv)?;
    let k = s.svc.get_keypair(&c, &name, get(&q, "user_id")).await.map_err(fail)?;
    let mut o = summary(&k, mv);
    o["user_id"] = json!(k.user_id);
    o["id"] = json!(k.id);
    o["created_at"] = json!(stratus_api::time::micros_naive(k.created_at));
    o["updated_at"] = Value::Null;
    o["deleted"] = json!(false);
    o["deleted_at"] = Value::Null;
    Ok(reply(StatusCode::OK, json!({ "keypair": o })))
}

pub(crate) async fn delete_keypair(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = query(raw.as_deref(), mv)?;
    s.svc
        .delete_keypair(&c, &name, get(&q, "user_id"))
        .await
        .map_err(fail)?;
    Ok(if mv.at_least(2, 2) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::ACCEPTED.into_response()
    })
}
