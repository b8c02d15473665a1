//! The key material of keypairs: checking what a user imports and making what a user asks
//! to have generated, as Nova does (`nova/crypto.py`).
//!
//! Pure functions over text and bytes: no store, no policy, no microversions. An imported key
//! is kept exactly as given; these functions only decide whether it is one and compute its
//! fingerprint. What they refuse is the user's mistake ([`Refused`]); a failure to generate is
//! ours ([`KeyGenError`]).

use std::time::Duration;

use base64::Engine;
use md5::{Digest, Md5};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{ObjectIdentifier, SetOfVec, Utf8StringRef};
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{Any, Decode, Encode, EncodePem, Tag};
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

/// The two kinds of keypair Nova knows (microversion 2.2): an OpenSSH public key, or an
/// X.509 certificate in PEM (for WinRM's certificate login to Windows guests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ssh,
    X509,
}

impl KeyType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ssh" => Some(KeyType::Ssh),
            "x509" => Some(KeyType::X509),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ssh => "ssh",
            KeyType::X509 => "x509",
        }
    }
}

/// Why an imported key was refused, worded for the user (Nova's `InvalidKeypair` reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Generating a key or certificate failed: a fault of ours, not of the request.
#[derive(Debug, thiserror::Error)]
#[error("generating a keypair: {0}")]
pub struct KeyGenError(String);

impl KeyGenError {
    pub(crate) fn new(what: String) -> Self {
        KeyGenError(what)
    }
}

fn gen_err(what: &str) -> impl FnOnce(&dyn std::fmt::Display) -> KeyGenError + '_ {
    move |e| KeyGenError(format!("{what}: {e}"))
}

/// A generated keypair: what is stored (`public_key`, `fingerprint`) and what is handed to the
/// user once and never kept (`private_key`).
pub struct Generated {
    pub public_key: String,
    pub private_key: String,
    pub fingerprint: String,
}

/// Nova's key size for the keys it makes.
const RSA_BITS: usize = 2048;

/// What Nova appends to the public keys it makes.
const GENERATED_COMMENT: &str = "Generated-by-Nova";

/// Ten years, as Nova's certificates for WinRM.
const X509_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 60 * 60);

/// `commonName`.
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `id-kp-clientAuth`.
const OID_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// Microsoft's User Principal Name, the `otherName` WinRM maps a certificate to a user by.
const OID_UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The fingerprint of `public_key` as a key of `kind`, or why it is not one.
pub fn fingerprint(kind: KeyType, public_key: &str) -> Result<String, Refused> {
    match kind {
        KeyType::Ssh => ssh_fingerprint(public_key),
        KeyType::X509 => x509_fingerprint(public_key),
    }
}

/// Nova's fingerprint of an OpenSSH public key (`type base64 [comment]`): the MD5 of the
/// decoded key blob as colon-separated hex. Every key type OpenSSH and Nova read is taken:
/// RSA, DSA, ECDSA (P-256, P-384, P-521), Ed25519 and their security-key forms. (OpenSSH
/// certificates, which newer Nova also takes, are not: the parser here refuses the usual
/// "valid forever" ones.)
fn ssh_fingerprint(public_key: &str) -> Result<String, Refused> {
    let refuse = |why: &dyn std::fmt::Display| Refused(format!("failed to generate fingerprint: {why}"));
    let text = public_key.trim();
    let mut words = text.split_whitespace();
    let (Some(algorithm), Some(blob)) = (words.next(), words.next()) else {
        return Err(refuse(
            &"a public key is its type, its Base64 data and an optional comment",
        ));
    };
    let blob = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|e| refuse(&format_args!("the key data is not Base64 ({e})")))?;
    let key = ssh_key::PublicKey::from_openssh(text).map_err(|e| refuse(&e))?;
    if let ssh_key::public::KeyData::Other(_) = key.key_data() {
        return Err(refuse(&format_args!("unsupported key type {algorithm}")));
    }
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// The DER of the first `CERTIFICATE` block of `pem`; text around it is ignored, as
/// OpenSSL's PEM reader ignores it.
fn pem_certificate(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or_else(|| {
        format!("the public key of an x509 keypair is a PEM certificate, and this has no '{BEGIN}' line")
    })? + BEGIN.len();
    let len = pem[start..].find(END).ok_or_else(|| format!("no '{END}' line"))?;
    let body: String = pem[start..start + len].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the certificate is not Base64 ({e})"))
}

/// Nova's fingerprint of an X.509 certificate in PEM: the SHA-1 of its DER as colon-separated
/// hex, as `openssl x509 -fingerprint -sha1` prints it (in lower case).
fn x509_fingerprint(pem: &str) -> Result<String, Refused> {
    let refuse = |why: String| Refused(format!("failed to generate X509 fingerprint. Error message: {why}"));
    let der = pem_certificate(pem).map_err(refuse)?;
    x509_cert::Certificate::from_der(&der).map_err(|e| refuse(format!("not an X.509 certificate ({e})")))?;
    Ok(colon_hex(&sha1::Sha1::digest(&der)))
}

fn rsa_key() -> Result<rsa::RsaPrivateKey, KeyGenError> {
    rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).map_err(|e| gen_err("an RSA key")(&e))
}

/// A new RSA key as Nova makes one: the private key in PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`),
/// the public key in OpenSSH's form with Nova's comment. Slow (a second or so): run it off
/// the async workers.
pub fn generate_ssh() -> Result<Generated, KeyGenError> {
    let key = rsa_key()?;
    let mpint = |b: Vec<u8>| ssh_key::Mpint::from_positive_bytes(&b).map_err(|e| gen_err("an SSH integer")(&e));
    let public = ssh_key::public::RsaPublicKey {
        e: mpint(key.e().to_bytes_be())?,
        n: mpint(key.n().to_bytes_be())?,
    };
    let public = ssh_key::PublicKey::new(ssh_key::public::KeyData::Rsa(public), "")
        .to_openssh()
        .map_err(|e| gen_err("the OpenSSH public key")(&e))?;
    let public_key = format!("{public} {GENERATED_COMMENT}");
    let private_key = key
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .map_err(|e| gen_err("the PEM private key")(&e))?
        .to_string();
    let fingerprint = ssh_fingerprint(&public_key).map_err(|Refused(r)| KeyGenError(r))?;
    Ok(Generated {
        public_key,
        private_key,
        fingerprint,
    })
}

/// `CN=<user_id>`.
fn common_name(user_id: &str) -> Result<Name, KeyGenError> {
    let cn = x509_cert::attr::AttributeTypeAndValue {
        oid: OID_CN,
        value: Any::new(Tag::Utf8String, user_id.as_bytes()).map_err(|e| gen_err("the subject")(&e))?,
    };
    let rdn = SetOfVec::try_from(vec![cn]).map_err(|e| gen_err("the subject")(&e))?;
    Ok(RdnSequence(vec![RelativeDistinguishedName(rdn)]))
}

/// A self-signed client certificate for `user_id`, as Nova makes for WinRM: a new RSA key,
/// subject `CN=<user_id>`, the client-authentication usage and the user principal name
/// `<user_id>@localhost`, valid for ten years. The public key is the certificate in PEM; the
/// private key is a PKCS#12 bundle of key and certificate under an empty password, in Base64.
/// Slow: run it off the async workers.
pub fn generate_x509(user_id: &str) -> Result<Generated, KeyGenError> {
    let key = rsa_key()?;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(|e| gen_err("the public key")(&e))?;
    let subject = common_name(user_id)?;
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    // Positive and of full length, as OpenSSL's random serials are.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let serial = SerialNumber::new(&serial).map_err(|e| gen_err("the serial number")(&e))?;
    let validity = Validity::from_now(X509_VALIDITY).map_err(|e| gen_err("the validity")(&e))?;
    let profile = Profile::Leaf {
        issuer: subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: true,
    };
    let mut builder = CertificateBuilder::new(profile, serial, validity, subject, spki, &signer)
        .map_err(|e| gen_err("the certificate")(&e))?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![OID_CLIENT_AUTH]))
        .map_err(|e| gen_err("the key usage")(&e))?;
    let upn = format!("{user_id}@localhost");
    let upn = Any::encode_from(&Utf8StringRef::new(&upn).map_err(|e| gen_err("the principal name")(&e))?)
        .map_err(|e| gen_err("the principal name")(&e))?;
    builder
        .add_extension(&SubjectAltName(vec![GeneralName::OtherName(OtherName {
            type_id: OID_UPN,
            value: upn,
        })]))
        .map_err(|e| gen_err("the principal name")(&e))?;
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| gen_err("signing the certificate")(&e))?;
    let der = cert.to_der().map_err(|e| gen_err("the certificate")(&e))?;
    let public_key = cert
        .to_pem(LineEnding::LF)
        .map_err(|e| gen_err("the certificate")(&e))?;

    let pkcs8 = key.to_pkcs8_der().map_err(|e| gen_err("the private key")(&e))?;
    let chain = [p12_keystore::Certificate::from_der(&der).map_err(|e| gen_err("the PKCS#12 certificate")(&e))?];
    let mut bundle = p12_keystore::KeyStore::new();
    bundle.add_entry(
        user_id,
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            pkcs8.as_bytes(),
            sha1::Sha1::digest(&der),
            chain,
        )),
    );
    let p12 = bundle
        .writer("")
        .write()
        .map_err(|e| gen_err("the PKCS#12 bundle")(&e))?;
    Ok(Generated {
        fingerprint: colon_hex(&sha1::Sha1::digest(&der)),
        public_key,
        private_key: base64::engine::general_purpose::STANDARD.encode(p12),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMkX/D2GUQlJX7OBj+x6rmepYtcmzpQmAKI5RcHHxjKH test@stratus";

    #[test]
    fn ssh_fingerprints_as_nova_shows_them() {
        // The expected values are what `ssh-keygen -l -E md5` printed for these keys.
        assert_eq!(
            fingerprint(KeyType::Ssh, ED25519).expect("ed25519"),
            "98:53:90:55:74:f7:86:02:42:36:d2:ba:26:74:31:ae"
        );
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCn5Nx+of50C+EbH9UUodw+Kr4DWZGoLuLkxldKVXVF+q3RERcsX4UTKWXj1XpF2WmMnAgHsR0HMqPp0rPmnO25F5g0JtcQabU6jO6Z4OhpoMoo4XtJ+IgwgVhqvzE1zuCr33CJI5Kghi1jL6ep+1YAPu3s4nd02IwEX3IiXRZacx7WVvYyHiKeQKZCX5aum+n2KIrKNxcICKj49vPU8ML+cBCPPqU7hvOTAIEW0Y+kX1rZD1dk+hg2Q8jqnzSfHwz9D+2DrHnfcfgfS1GEdAdbBNWJnGP1LFpQDLxEjsFq/IWZs/pfezxuo+u9uHVSJTqmffVx+yFqFhFB5r1mhDhv rsa@stratus";
        assert_eq!(
            fingerprint(KeyType::Ssh, rsa).expect("rsa"),
            "cc:f2:d7:1b:77:69:80:3d:de:5a:5f:38:7d:95:9c:c0"
        );
        // A trailing newline (as `cat id.pub` gives) changes nothing.
        assert_eq!(
            fingerprint(KeyType::Ssh, &format!("{ED25519}\n")).expect("newline"),
            "98:53:90:55:74:f7:86:02:42:36:d2:ba:26:74:31:ae"
        );
    }

    #[test]
    fn every_key_type_nova_reads_is_taken() {
        // Made with `ssh-keygen -t ecdsa -b {256,384,521}` and `ssh-keygen -t dsa`; the
        // fingerprints are what `ssh-keygen -l -E md5` printed for them.
        for (key, fp) in [
            (
                "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBE/80bASUHYo3UBdHEtn9uMwNG9CJz8gYSgOS6gy1IXBt2zIuo8oYVCDyL41xqK+4ORmdJFPp6yzE1IDlOkasXc= p256@stratus",
                "08:c9:9f:fd:6b:b7:f8:22:bd:65:e7:bd:a7:62:09:b5",
            ),
            (
                "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBKu1FLz4ex+NZR98nMUqjgNkLRzu/J0z9dHSWTNAQ/Wwms1crDauSCAR4IHk6zWMT1MSdzmgziLJQi12ZEQEbYWvfx6cDIh3fdxtUau3DWQCrEiUO10mvzui5NCSfb44yA== p384@stratus",
                "db:e3:b9:57:c7:64:8f:23:e5:c5:0f:02:24:52:e0:2d",
            ),
            (
                "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABEsJmAi3REdAlD/mUyZfcLEz0x6kcqXb8qF/XNd5dZ+nZ4SnF0LW8jKN288zFDhJssrFNALyYCxZgw3b27f1MWIgEMcauIyQbkotP102IvA9+bzmM9rCUol+2U7hM0ZQ0ckWiy3ZZorzRggy75IuQ0fLjTlXnzPCad6FE401351zu9vw== p521@stratus",
                "72:28:ac:b8:bb:54:68:a0:d4:70:5d:b6:e8:c8:9a:92",
            ),
            (
                "ssh-dss AAAAB3NzaC1kc3MAAACBAMv8+KKYaqSXxgU2hXuuHyx08tDkah4Q0AIiuQuda2D2JByWxhIfSzRUIlzDkWIUNMTznGRteNTlU6TmL+qrUc28oY8x0THjwAYb/eu/Q83GqkBYPL+N6waj7sL4gUiNiiaP4x02ziI70THNFneS28+cRrjw/PrAv3yG/eqRYlNxAAAAFQCHlrpgG9tHsnIZY1DGk2xb5eLdPwAAAIEAh3AnUtTEkaAzuNc8Wx9T+U30R4TiOBA0jVAbPentmKNAVlYbIo43I5jK41Coc9U7NQTzNcopH796mSNu2HObEnlZwYLE8dOKB2c/bYm314GiezAA3X0oV75be5851tiJx2XYIQhNWnp5DJS5zpo7qvlqM8YnEjIgWkW6fVv03kYAAACAdh7WXmG+v5X2dxFsMOBa26Qv+VKq3/Q4UmvKauXPOLL2McodKchCZw09LFM/R19E4YJSMwKgIdIApRyytpnoR/b+jwpHmwSLZp+js+XDoxt3IWHGDJGEqa3GEWf0TRmP9rImR81btUCWZVwaX165CFbz/e3Cy1qmikSlf/OPOss= dsa@stratus",
                "31:d9:c2:5a:19:46:02:0c:14:4a:cd:4c:98:1f:0e:8d",
            ),
            // A security-key Ed25519 key (its blob written by hand: type, key, application).
            (
                "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo= sk@stratus",
                "cf:44:e4:6b:27:42:ed:24:a2:8a:c7:78:81:89:dc:78",
            ),
        ] {
            assert_eq!(fingerprint(KeyType::Ssh, key).expect(key), fp, "{key}");
        }
    }

    #[test]
    fn what_is_not_a_key_is_refused() {
        for bad in [
            "",
            " ",
            "ssh-rsa not-base64",
            "ssh-rsa JUNK nova@ubuntu",
            "ssh-ed25519",
            // The type in the text must be the type in the data.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMkX/D2GUQlJX7OBj+x6rmepYtcmzpQmAKI5RcHHxjKH x",
        ] {
            let e = fingerprint(KeyType::Ssh, bad).expect_err(bad);
            assert!(e.0.starts_with("failed to generate fingerprint"), "{bad}: {e:?}");
        }
        let long = format!("ssh-rsa {} openstack@ubuntu", "A".repeat(2048));
        assert!(fingerprint(KeyType::Ssh, &long).is_err());
        // An SSH key is not a certificate, and a certificate is not an SSH key.
        let e = fingerprint(KeyType::X509, ED25519).expect_err("ssh as x509");
        assert!(e.0.starts_with("failed to generate X509 fingerprint"), "{e:?}");
    }

    #[test]
    fn a_generated_ssh_key_is_an_rsa_key_nova_would_return() {
        let g = generate_ssh().expect("generate");
        assert!(g.public_key.starts_with("ssh-rsa AAAA"), "{}", g.public_key);
        assert!(g.public_key.ends_with(" Generated-by-Nova"), "{}", g.public_key);
        assert!(
            g.private_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{}",
            g.private_key
        );
        assert_eq!(
            fingerprint(KeyType::Ssh, &g.public_key).expect("reads back"),
            g.fingerprint
        );
        let private =
            <rsa::RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(&g.private_key).expect("PKCS#1");
        assert_eq!(private.size() * 8, RSA_BITS);
    }

    #[test]
    fn a_generated_certificate_is_for_the_user_and_comes_with_its_key() {
        let g = generate_x509("0f1e2d3c").expect("generate");
        assert!(
            g.public_key.starts_with("-----BEGIN CERTIFICATE-----\n"),
            "{}",
            g.public_key
        );
        assert_eq!(
            fingerprint(KeyType::X509, &g.public_key).expect("reads back"),
            g.fingerprint
        );
        assert_eq!(g.fingerprint.len(), 20 * 3 - 1);
        let der = pem_certificate(&g.public_key).expect("pem");
        let cert = x509_cert::Certificate::from_der(&der).expect("der");
        assert_eq!(cert.tbs_certificate.subject.to_string(), "CN=0f1e2d3c");
        assert_eq!(cert.tbs_certificate.issuer, cert.tbs_certificate.subject);
        let ext = cert.tbs_certificate.extensions.expect("extensions");
        let san = ext
            .iter()
            .find(|e| e.extn_id == ObjectIdentifier::new_unwrap("2.5.29.17"))
            .expect("subjectAltName");
        let upn = b"0f1e2d3c@localhost";
        assert!(
            san.extn_value.as_bytes().windows(upn.len()).any(|w| w == upn),
            "{san:?}"
        );
        // The bundle opens with the empty password and holds the key for this certificate.
        let p12 = base64::engine::general_purpose::STANDARD
            .decode(&g.private_key)
            .expect("base64");
        let store = p12_keystore::KeyStore::from_pkcs12(&p12, "").expect("pkcs12");
        let (_, chain) = store.private_key_chain().expect("a key");
        assert_eq!(chain.chain()[0].as_der(), der.as_slice());
        let key = <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_der(chain.key()).expect("PKCS#8");
        let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).expect("spki");
        assert_eq!(spki, cert.tbs_certificate.subject_public_key_info);
    }

    #[test]
    fn certificates_are_read_from_pem_with_text_around() {
        let g = generate_x509("u").expect("generate");
        let wrapped = format!("subject=CN = u\n{}\n", g.public_key);
        assert_eq!(fingerprint(KeyType::X509, &wrapped).expect("wrapped"), g.fingerprint);
        for bad in [
            "",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
        ] {
            assert!(fingerprint(KeyType::X509, bad).is_err(), "{bad}");
        }
    }
}
