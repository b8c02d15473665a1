//! Token payloads: what a Fernet token carries, packed small (MessagePack, ids as 16 raw bytes
//! when they are UUIDs) so tokens stay well under the 255 characters clients assume.
//!
//! A token holds who, how, scope, times and audit ids; never roles or the catalog, which are
//! read when the token is validated, so that a removed role takes effect at once.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteArray;

const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum PackedId {
    Uuid(ByteArray<16>),
    Text(String),
}

impl PackedId {
    fn pack(id: &str) -> Self {
        // Keystone ids are 32 lowercase hex digits; anything else (such as "default") is kept
        // as text so that it comes back exactly.
        if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            if let Ok(u) = uuid::Uuid::parse_str(id) {
                return PackedId::Uuid(ByteArray::new(*u.as_bytes()));
            }
        }
        PackedId::Text(id.to_owned())
    }
    fn unpack(&self) -> String {
        match self {
            PackedId::Uuid(b) => uuid::Uuid::from_bytes(**b).simple().to_string(),
            PackedId::Text(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum PackedScope {
    Unscoped,
    Project(PackedId),
    Domain(PackedId),
    System,
}

/// What a delegated token was made from, besides an application credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum PackedDelegation {
    Trust(PackedId),
    OAuth(PackedId),
}

#[derive(Debug, Serialize, Deserialize)]
struct Packed(
    u8,
    PackedId,
    u8,
    PackedScope,
    i64,
    i64,
    Vec<ByteArray<16>>,
    Option<PackedId>,
    // Added after the first tokens: a token without it decodes with none.
    #[serde(default)] Option<PackedDelegation>,
);

/// Authentication methods, in the order Keystone lists them (their bits in a token; new ones
/// go at the end).
pub const METHODS: [&str; 5] = ["password", "token", "application_credential", "oauth1", "ec2credential"];

/// What a token says, once decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPayload {
    pub user_id: String,
    pub methods: Vec<String>,
    pub scope: TokenScope,
    /// Unix microseconds.
    pub issued_at: i64,
    pub expires_at: i64,
    /// This token's audit id first, then the id of the token it was rescoped from.
    pub audit_ids: Vec<String>,
    pub application_credential_id: Option<String>,
    /// The trust a trust-scoped token was made with.
    pub trust_id: Option<String>,
    /// The OAuth access token a token was made with.
    pub access_token_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

pub fn new_audit_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn pack_audit(a: &str) -> Option<ByteArray<16>> {
    let raw: [u8; 16] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(a)
        .ok()?
        .try_into()
        .ok()?;
    Some(ByteArray::new(raw))
}

impl TokenPayload {
    pub fn encode(&self) -> Vec<u8> {
        let methods = self
            .methods
            .iter()
            .filter_map(|m| METHODS.iter().position(|k| k == m))
            .fold(0u8, |acc, i| acc | (1 << i));
        let scope = match &self.scope {
            TokenScope::Unscoped => PackedScope::Unscoped,
            TokenScope::Project(p) => PackedScope::Project(PackedId::pack(p)),
            TokenScope::Domain(d) => PackedScope::Domain(PackedId::pack(d)),
            TokenScope::System => PackedScope::System,
        };
        let packed = Packed(
            VERSION,
            PackedId::pack(&self.user_id),
            methods,
            scope,
            self.issued_at,
            self.expires_at,
            self.audit_ids.iter().filter_map(|a| pack_audit(a)).collect(),
            self.application_credential_id.as_deref().map(PackedId::pack),
            match (&self.trust_id, &self.access_token_id) {
                (Some(t), _) => Some(PackedDelegation::Trust(PackedId::pack(t))),
                (None, Some(a)) => Some(PackedDelegation::OAuth(PackedId::pack(a))),
                (None, None) => None,
            },
        );
        // Serialising plain data into a Vec cannot fail.
        rmp_serde::to_vec(&packed).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let p: Packed = rmp_serde::from_slice(bytes).ok()?;
        if p.0 != VERSION {
            return None;
        }
        Some(TokenPayload {
            user_id: p.1.unpack(),
            methods: METHODS
                .iter()
                .enumerate()
                .filter(|(i, _)| p.2 & (1 << i) != 0)
                .map(|(_, m)| m.to_string())
                .collect(),
            scope: match p.3 {
                PackedScope::Unscoped => TokenScope::Unscoped,
                PackedScope::Project(id) => TokenScope::Project(id.unpack()),
                PackedScope::Domain(id) => TokenScope::Domain(id.unpack()),
                PackedScope::System => TokenScope::System,
            },
            issued_at: p.4,
            expires_at: p.5,
            audit_ids: p
                .6
                .iter()
                .map(|a| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(**a))
                .collect(),
            application_credential_id: p.7.map(|i| i.unpack()),
            trust_id: match &p.8 {
                Some(PackedDelegation::Trust(t)) => Some(t.unpack()),
                _ => None,
            },
            access_token_id: match &p.8 {
                Some(PackedDelegation::OAuth(a)) => Some(a.unpack()),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_roundtrips_and_stays_small() {
        let p = TokenPayload {
            user_id: uuid::Uuid::new_v4().simple().to_string(),
            methods: vec!["password".into(), "token".into()],
            scope: TokenScope::Project(uuid::Uuid::new_v4().simple().to_string()),
            issued_at: 1_700_000_000_000_000,
            expires_at: 1_700_003_600_000_000,
            audit_ids: vec![new_audit_id(), new_audit_id()],
            application_credential_id: None,
            trust_id: None,
            access_token_id: None,
        };
        let bytes = p.encode();
        assert_eq!(TokenPayload::decode(&bytes).unwrap(), p);
        let token = fernet::Fernet::new(&fernet::Fernet::generate_key())
            .unwrap()
            .encrypt(&bytes);
        assert!(token.len() < 255, "token is {} chars", token.len());

        let d = TokenPayload {
            scope: TokenScope::Domain("default".into()),
            ..p.clone()
        };
        assert_eq!(TokenPayload::decode(&d.encode()).unwrap(), d);

        // A trust-scoped token carries its trust id too: one more packed id, so it is longer
        // than the others (as Keystone's own trust-scoped tokens are), but still compact.
        let t = TokenPayload {
            trust_id: Some(uuid::Uuid::new_v4().simple().to_string()),
            ..p.clone()
        };
        let bytes = t.encode();
        assert_eq!(TokenPayload::decode(&bytes).unwrap(), t);
        let token = fernet::Fernet::new(&fernet::Fernet::generate_key())
            .unwrap()
            .encrypt(&bytes);
        assert!(token.len() < 300, "token is {} chars", token.len());
    }

    #[test]
    fn tokens_made_before_delegations_still_decode() {
        // The eight fields of the first payloads.
        let old = (
            1u8,
            PackedId::Text("u".into()),
            1u8,
            PackedScope::Unscoped,
            1i64,
            2i64,
            Vec::<ByteArray<16>>::new(),
            None::<PackedId>,
        );
        let bytes = rmp_serde::to_vec(&old).expect("pack");
        let p = TokenPayload::decode(&bytes).expect("decodes");
        assert_eq!(p.user_id, "u");
        assert_eq!(p.trust_id, None);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(TokenPayload::decode(b"\x93\x01\x02").is_none());
        assert!(TokenPayload::decode(b"").is_none());
    }
}
