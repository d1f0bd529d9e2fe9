//! Verification keys for JWTs, and the one algorithm each accepts.
//!
//! A key is a shared secret (HMAC) or a PEM public key (RSA, EC or Ed25519). Each key accepts
//! exactly one algorithm: the one configured, or the usual one for its kind (HS256, RS256, ES256,
//! EdDSA). The algorithm never comes from the token, so `alg: none` and algorithm confusion
//! (an HMAC token "signed" with a public key) are refused.

use jsonwebtoken::{Algorithm, DecodingKey};

/// Key material as configured.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// An HMAC secret.
    Secret(Vec<u8>),
    /// A PEM-encoded public key (or certificate-less SPKI / PKCS#1 RSA key).
    Pem(Vec<u8>),
    /// The public keys of the JWK Set at this URL (`--jwt-jwks-url`), chosen by each token's
    /// `kid`.
    Jwks(url::Url),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(..)"),
            Self::Pem(_) => f.write_str("Pem(..)"),
            Self::Jwks(url) => write!(f, "Jwks({:?})", url.as_str()),
        }
    }
}

/// An HMAC secret as configured (`--jwt-key`); debug output shows `Secret(..)`, so logging the
/// configuration never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A configured key: material and, optionally, the algorithm to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfig {
    /// The secret or public key.
    pub material: KeyMaterial,
    /// The one algorithm to accept; by default the usual one for the key's kind.
    pub algorithm: Option<String>,
}

impl KeyConfig {
    /// Reads a key file: PEM if it looks like PEM, an HMAC secret otherwise (trailing newline
    /// removed).
    pub fn from_file(path: &std::path::Path, algorithm: Option<String>) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let material = if bytes.starts_with(b"-----BEGIN") {
            KeyMaterial::Pem(bytes)
        } else {
            let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
            KeyMaterial::Secret(bytes[..end].to_vec())
        };
        Ok(Self { material, algorithm })
    }
}

/// A key ready to verify signatures.
#[derive(Clone)]
pub(super) struct VerifyingKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// The algorithm `--jwt-alg` names, if any.
pub(super) fn named_algorithm(name: Option<&str>) -> Result<Option<Algorithm>, String> {
    name.map(|name| {
        name.parse::<Algorithm>().map_err(|_| {
            format!("unknown JWT algorithm {name:?}: use HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA")
        })
    })
    .transpose()
}

impl VerifyingKey {
    /// Parses the key and checks that the algorithm suits it; the error says what to fix.
    pub(super) fn new(config: &KeyConfig) -> Result<Self, String> {
        let named = named_algorithm(config.algorithm.as_deref())?;
        match &config.material {
            KeyMaterial::Secret(secret) => {
                if secret.is_empty() {
                    return Err("the JWT key is empty".into());
                }
                let algorithm = named.unwrap_or(Algorithm::HS256);
                if !matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    return Err(format!(
                        "JWT algorithm {algorithm:?} needs a PEM public key (--jwt-key-file), not a secret"
                    ));
                }
                Ok(Self { key: DecodingKey::from_secret(secret), algorithm })
            }
            KeyMaterial::Pem(pem) => Self::from_pem(pem, named),
            KeyMaterial::Jwks(url) => Err(format!("the JWK Set at {url} is not one key")),
        }
    }

    fn from_pem(pem: &[u8], named: Option<Algorithm>) -> Result<Self, String> {
        use Algorithm::*;
        let rsa = || DecodingKey::from_rsa_pem(pem).ok();
        let ec = || DecodingKey::from_ec_pem(pem).ok();
        let ed = || DecodingKey::from_ed_pem(pem).ok();
        let (key, algorithm) = match named {
            Some(a @ (RS256 | RS384 | RS512 | PS256 | PS384 | PS512)) => (rsa(), a),
            Some(a @ (ES256 | ES384)) => (ec(), a),
            Some(EdDSA) => (ed(), EdDSA),
            Some(a @ (HS256 | HS384 | HS512)) => {
                return Err(format!("JWT algorithm {a:?} takes a secret, not a PEM key"));
            }
            None => match (rsa(), ec(), ed()) {
                (Some(key), _, _) => (Some(key), RS256),
                (None, Some(key), _) => (Some(key), ES256),
                (None, None, Some(key)) => (Some(key), EdDSA),
                (None, None, None) => (None, RS256),
            },
        };
        let key = key.ok_or_else(|| match named {
            Some(a) => format!("the JWT key file is not a PEM public key for {a:?}"),
            None => "the JWT key file is not a PEM RSA, EC or Ed25519 public key".to_owned(),
        })?;
        Ok(Self { key, algorithm })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(alg: Option<&str>) -> KeyConfig {
        KeyConfig { material: KeyMaterial::Secret(b"s3cret".to_vec()), algorithm: alg.map(str::to_owned) }
    }

    #[test]
    fn secrets_take_hmac_algorithms_only() {
        assert_eq!(VerifyingKey::new(&secret(None)).unwrap().algorithm, Algorithm::HS256);
        assert_eq!(VerifyingKey::new(&secret(Some("HS512"))).unwrap().algorithm, Algorithm::HS512);
        assert!(VerifyingKey::new(&secret(Some("RS256"))).unwrap_err().contains("PEM"));
        assert!(VerifyingKey::new(&secret(Some("none"))).unwrap_err().contains("unknown"));
        let empty = KeyConfig { material: KeyMaterial::Secret(Vec::new()), algorithm: None };
        assert!(VerifyingKey::new(&empty).is_err());
    }

    #[test]
    fn garbage_pem_is_refused() {
        let bad =
            KeyConfig { material: KeyMaterial::Pem(b"-----BEGIN PUBLIC KEY-----\nxx\n".to_vec()), algorithm: None };
        assert!(VerifyingKey::new(&bad).unwrap_err().contains("PEM"));
    }
}
