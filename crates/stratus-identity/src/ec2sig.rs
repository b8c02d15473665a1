//! The signatures of EC2-style requests, as an EC2 or S3 front end passes them to
//! `/v3/ec2tokens`: AWS signature version 2 (HMAC-SHA256 over the method, host, path and sorted
//! query) and version 4 (the canonical request, signed with a key derived from the secret, the
//! date, region and service). Identity recomputes the signature with the credential's secret
//! and compares. No maintained crate verifies a signature whose signed headers the client
//! chose (the AWS SDK's signer picks its own), so the canonical forms are built here, on the
//! `hmac` and `sha2` crates.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// What RFC 3986 leaves unescaped: letters, digits and `-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The request an EC2 front end received, as it describes it to Identity.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Ec2Request {
    pub access: Option<String>,
    pub signature: Option<String>,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub body_hash: String,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sorted query string both versions sign, `skip` left out.
fn canonical_qs(params: &BTreeMap<String, String>, skip: &str) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != skip)
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, UNRESERVED), utf8_percent_encode(v, UNRESERVED)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Ec2Request {
    fn params(&self) -> BTreeMap<String, String> {
        self.params.iter().map(|(k, v)| (k.clone(), text(v))).collect()
    }

    /// A header by name, whatever its case.
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| text(v))
    }

    /// Whether the request is signed with signature version 4.
    pub fn is_v4(&self) -> bool {
        self.params.contains_key("X-Amz-Algorithm")
            || self.header("Authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"))
    }

    /// When the request says it was signed: `Timestamp`, or `X-Amz-Date` for version 4.
    pub fn timestamp(&self) -> Option<String> {
        let p = self.params();
        p.get("Timestamp")
            .cloned()
            .or_else(|| p.get("X-Amz-Date").cloned())
            .or_else(|| self.header("X-Amz-Date"))
    }

    /// The signature the request should carry, made with `secret`; None when the request is
    /// not one of the forms Identity checks.
    pub fn expected_signature(&self, secret: &str, host: &str) -> Option<String> {
        if self.is_v4() && !self.params.contains_key("SignatureVersion") {
            return self.signature_v4(secret);
        }
        match self.params().get("SignatureVersion").map(String::as_str) {
            Some("2") => Some(self.signature_v2(secret, host)),
            _ => None,
        }
    }

    fn signature_v2(&self, secret: &str, host: &str) -> String {
        let mut params = self.params();
        params.insert("SignatureMethod".into(), "HmacSHA256".into());
        let to_sign = format!("{}\n{}\n{}\n{}", self.verb, host, self.path, canonical_qs(&params, "Signature"));
        base64::engine::general_purpose::STANDARD.encode(hmac256(secret.as_bytes(), to_sign.as_bytes()))
    }

    /// A version 4 parameter: from the query (`X-Amz-Name`) or the Authorization header.
    fn v4_param(&self, name: &str) -> Option<String> {
        let p = self.params();
        if p.contains_key("X-Amz-Algorithm") {
            return p.get(&format!("X-Amz-{name}")).cloned();
        }
        let auth = self.header("Authorization")?;
        let rest = auth.split_once(&format!("{name}="))?.1;
        Some(rest.split(',').next().unwrap_or_default().trim().to_owned())
    }

    fn signature_v4(&self, secret: &str) -> Option<String> {
        let signed_headers = self.v4_param("SignedHeaders")?;
        let lower: BTreeMap<String, String> = self
            .headers
            .iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), text(v).trim().to_owned()))
            .collect();
        let mut header_lines = String::new();
        for h in signed_headers.split(';') {
            if let Some(v) = lower.get(h) {
                header_lines.push_str(&format!("{h}:{v}\n"));
            }
        }
        let canonical = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.verb.to_ascii_uppercase(),
            self.path,
            canonical_qs(&self.params(), "X-Amz-Signature"),
            header_lines,
            signed_headers,
            self.body_hash
        );
        let credential = self.v4_param("Credential")?;
        let parts: Vec<&str> = credential.split('/').collect();
        if parts.len() < 5 {
            return None;
        }
        let (date, region, service) = (parts[1], parts[2], parts[3]);
        let amz_date = self.timestamp()?;
        if !amz_date.starts_with(date) {
            return None;
        }
        let scope = parts[1..].join("/");
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
        let mut key = hmac256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        for part in [region, service, "aws4_request"] {
            key = hmac256(&key, part.as_bytes());
        }
        Some(hex(&hmac256(&key, to_sign.as_bytes())))
    }
}

/// Compares two signatures in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(params: &[(&str, &str)]) -> Ec2Request {
        Ec2Request {
            access: Some("AKID".into()),
            host: "ec2.example.com:8773".into(),
            verb: "GET".into(),
            path: "/".into(),
            params: params.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn version_2_signs_the_sorted_escaped_query_with_hmac_sha256() {
        let r = req(&[("Action", "DescribeInstances"), ("SignatureVersion", "2"), ("Timestamp", "2026-12-04T12:00:00Z")]);
        let sig = r.expected_signature("secret", &r.host).unwrap();
        // The same string to sign, built independently.
        let to_sign = "GET\nec2.example.com:8773\n/\nAction=DescribeInstances&SignatureMethod=HmacSHA256&SignatureVersion=2&Timestamp=2026-12-04T12%3A00%3A00Z";
        let want = base64::engine::general_purpose::STANDARD.encode(hmac256(b"secret", to_sign.as_bytes()));
        assert_eq!(sig, want);
        assert_ne!(r.expected_signature("other", &r.host).unwrap(), sig);
    }

    #[test]
    fn version_4_matches_the_aws_documented_example() {
        // AWS's published SigV4 example (IAM ListUsers, secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY).
        let mut r = req(&[("Action", "ListUsers"), ("Version", "2010-05-08")]);
        r.host = "iam.amazonaws.com".into();
        r.body_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into();
        for (k, v) in [
            ("Host", "iam.amazonaws.com"),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=x",
            ),
        ] {
            r.headers.insert(k.into(), serde_json::Value::from(v));
        }
        assert!(r.is_v4());
        assert_eq!(
            r.expected_signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &r.host).unwrap(),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn unknown_versions_are_not_checked() {
        assert!(req(&[("SignatureVersion", "1")]).expected_signature("s", "h").is_none());
        assert!(req(&[]).expected_signature("s", "h").is_none());
    }
}
