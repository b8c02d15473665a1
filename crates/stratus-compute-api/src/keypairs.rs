//! Keypairs: import, list, show and delete; a user's own, or another user's for
//! administrators (microversion 2.10).

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::keyed_json;
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, Caller};
use stratus_compute::Keypair;

use crate::{fail, reply, ApiState, Out};

fn summary(k: &Keypair, mv: Microversion) -> Value {
    let mut o = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2, 2) {
        o["type"] = json!(k.key_type);
    }
    o
}

fn query(raw: Option<&str>, mv: Microversion) -> Result<Vec<(String, String)>, ApiError> {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
    for (k, _) in &q {
        let known = match k.as_str() {
            "user_id" => mv.at_least(2, 10),
            // The SDK pages keypairs at 2.10 already; paging is honoured at every version.
            "limit" | "marker" => true,
            _ => false,
        };
        if !known {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Additional properties are not allowed at microversion {mv}."
            )));
        }
    }
    Ok(q)
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeypairCreate {
    name: String,
    public_key: Option<String>,
    #[serde(rename = "type")]
    key_type: Option<String>,
    user_id: Option<String>,
}

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
    let public_key = b.public_key.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute keypair: 'public_key' is required; this cloud imports keys and does not generate them.",
        )
    })?;
    let k = s
        .svc
        .import_keypair(&c, &b.name, &public_key, b.key_type.as_deref(), b.user_id.as_deref())
        .await
        .map_err(fail)?;
    let mut o = summary(&k, mv);
    o["user_id"] = json!(k.user_id);
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
