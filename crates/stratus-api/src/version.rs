//! Version discovery documents, which keystoneauth fetches before anything else.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub rel: String,
    pub href: String,
    #[serde(skip_serializing_if = "Option::is_none", rename = "type")]
    pub media_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MediaType {
    pub base: String,
    #[serde(rename = "type")]
    pub media_type: String,
}

/// One API version, in the shape every OpenStack service shares.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub id: String,
    pub status: String,
    pub updated: String,
    pub links: Vec<Link>,
    #[serde(rename = "media-types")]
    pub media_types: Vec<MediaType>,
    /// Highest microversion, for services that have them ("" otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
}

impl Version {
    pub fn new(id: &str, updated: &str, href: &str, media_type: &str) -> Self {
        Version {
            id: id.to_owned(),
            status: "stable".to_owned(),
            updated: updated.to_owned(),
            links: vec![Link {
                rel: "self".into(),
                href: href.to_owned(),
                media_type: None,
            }],
            media_types: vec![MediaType {
                base: "application/json".into(),
                media_type: media_type.to_owned(),
            }],
            version: None,
            min_version: None,
        }
    }
}
