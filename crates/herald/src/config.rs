//! Building the server configuration from defaults, a TOML file, the environment and flags.
//!
//! Precedence, highest first: flags, `HERALD_*` variables (both read by clap), the file, the
//! defaults of [`ServerConfig`]. Unknown keys in the file are errors, so a typo never silently
//! leaves a setting at its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_core::Retention;
use herald_server::auth::{AuthConfig, KeyConfig, KeyMaterial};
use herald_server::{ConnectionLimits, ServerConfig, StoreChoice, TlsFiles};
use serde::Deserialize;
use url::Url;

use crate::cli::{ServeArgs, StoreKind};

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The TOML file's keys: the flags' names with `_` instead of `-`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    addr: Option<SocketAddr>,
    public_url: Option<Url>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    #[serde(default, with = "humantime_opt")]
    header_read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    idle_timeout: Option<Duration>,
    store: Option<StoreKind>,
    data_dir: Option<PathBuf>,
    history_size: Option<u64>,
    #[serde(default, with = "humantime_opt")]
    history_max_age: Option<Duration>,
    history_max_bytes: Option<u64>,
    cache_size: Option<u64>,
    queue_capacity: Option<usize>,
    #[serde(default, with = "humantime_opt")]
    heartbeat: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    retry: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    long_poll_max: Option<Duration>,
    cors_origins: Option<Vec<String>>,
    #[serde(alias = "demo_clock")]
    demo: Option<bool>,
    max_body_bytes: Option<usize>,
    max_field_bytes: Option<usize>,
    max_topics_per_publish: Option<usize>,
    max_matchers: Option<usize>,
    jwt_key: Option<String>,
    jwt_key_file: Option<PathBuf>,
    jwt_alg: Option<String>,
    publisher_jwt_key: Option<String>,
    publisher_jwt_key_file: Option<PathBuf>,
    subscriber_jwt_key: Option<String>,
    subscriber_jwt_key_file: Option<PathBuf>,
    anonymous: Option<bool>,
    jwt_query_param: Option<bool>,
    jwt_audience: Option<String>,
    jwt_issuer: Option<String>,
}

mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            humantime::parse_duration(&t)
                .map_err(|e| serde::de::Error::custom(format!("{e} (write e.g. \"15s\" or \"500ms\")")))
        })
        .transpose()
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
}

/// The address to listen on and the server configuration.
pub fn resolve(args: ServeArgs) -> Result<(SocketAddr, ServerConfig), String> {
    let file = match &args.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    let defaults = ServerConfig::default();
    let auth = auth_config(&args, &file)?;
    let addr = match args.addr.or(file.addr) {
        Some(addr) => addr,
        None => DEFAULT_ADDR.parse().map_err(|e| format!("bad default address: {e}"))?,
    };
    let cors_origins =
        if args.cors_origins.is_empty() { file.cors_origins.unwrap_or_default() } else { args.cors_origins };
    for origin in &cors_origins {
        check_origin(origin)?;
    }
    let limits = herald_server::config::Limits {
        max_body_bytes: args.max_body_bytes.or(file.max_body_bytes).unwrap_or(defaults.limits.max_body_bytes),
        max_field_bytes: args.max_field_bytes.or(file.max_field_bytes).unwrap_or(defaults.limits.max_field_bytes),
        max_topics_per_publish: args
            .max_topics_per_publish
            .or(file.max_topics_per_publish)
            .unwrap_or(defaults.limits.max_topics_per_publish),
        max_matchers: args.max_matchers.or(file.max_matchers).unwrap_or(defaults.limits.max_matchers),
    };
    let connections = ConnectionLimits {
        max_connections: args.max_connections.or(file.max_connections).unwrap_or(defaults.connections.max_connections),
        max_connections_per_ip: args
            .max_connections_per_ip
            .or(file.max_connections_per_ip)
            .unwrap_or(defaults.connections.max_connections_per_ip),
        header_read_timeout: args
            .header_read_timeout
            .or(file.header_read_timeout)
            .unwrap_or(defaults.connections.header_read_timeout),
        idle_timeout: args.idle_timeout.or(file.idle_timeout).unwrap_or(defaults.connections.idle_timeout),
    };
    check_connections(&connections)?;
    let tls = tls_files(args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key))?;
    let config = ServerConfig {
        public_url: args.public_url.or(file.public_url).unwrap_or(defaults.public_url),
        store: match args.store.or(file.store).unwrap_or(StoreKind::Disk) {
            StoreKind::Memory => StoreChoice::Memory,
            StoreKind::Disk => {
                StoreChoice::Disk(args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("herald-data")))
            }
        },
        retention: Retention {
            max_events: Some(args.history_size.or(file.history_size).unwrap_or(10_000)),
            max_age: args.history_max_age.or(file.history_max_age),
            max_bytes: args.history_max_bytes.or(file.history_max_bytes),
        },
        cache_size: args.cache_size.or(file.cache_size).unwrap_or(defaults.cache_size),
        queue_capacity: args.queue_capacity.or(file.queue_capacity).unwrap_or(defaults.queue_capacity),
        connections,
        tls,
        heartbeat: args.heartbeat.or(file.heartbeat).unwrap_or(defaults.heartbeat),
        retry: args.retry.or(file.retry).or(defaults.retry),
        long_poll_max: args.long_poll_max.or(file.long_poll_max).unwrap_or(defaults.long_poll_max),
        cors_origins,
        demo: !args.no_demo && file.demo.unwrap_or(defaults.demo),
        ws_echo: args.ws_echo,
        limits,
        auth,
    };
    if config.queue_capacity == 0 {
        return Err("queue-capacity must be at least 1".into());
    }
    if config.heartbeat.is_zero() {
        return Err("heartbeat must be longer than 0s".into());
    }
    Ok((addr, config))
}

/// The JWT keys and policy. A role's own key wins over the shared `jwt_key`; each key is a
/// secret or a file, not both.
fn auth_config(args: &ServeArgs, file: &FileConfig) -> Result<AuthConfig, String> {
    let alg = args.jwt_alg.clone().or_else(|| file.jwt_alg.clone());
    let key = |flag: &str, secret: &Option<String>, path: &Option<PathBuf>| -> Result<Option<KeyConfig>, String> {
        match (secret, path) {
            (Some(_), Some(_)) => Err(format!("give --{flag} or --{flag}-file, not both")),
            (Some(secret), None) => Ok(Some(KeyConfig {
                material: KeyMaterial::Secret(secret.as_bytes().to_vec()),
                algorithm: alg.clone(),
            })),
            (None, Some(path)) => KeyConfig::from_file(path, alg.clone()).map(Some),
            (None, None) => Ok(None),
        }
    };
    let pick = |flag: &str, a: (&Option<String>, &Option<PathBuf>), f: (&Option<String>, &Option<PathBuf>)| {
        // Flags (and environment) replace the file's setting of the same key as a whole.
        if a.0.is_some() || a.1.is_some() {
            key(flag, a.0, a.1)
        } else {
            key(flag, f.0, f.1)
        }
    };
    let shared = pick("jwt-key", (&args.jwt_key, &args.jwt_key_file), (&file.jwt_key, &file.jwt_key_file))?;
    let publisher = pick(
        "publisher-jwt-key",
        (&args.publisher_jwt_key, &args.publisher_jwt_key_file),
        (&file.publisher_jwt_key, &file.publisher_jwt_key_file),
    )?;
    let subscriber = pick(
        "subscriber-jwt-key",
        (&args.subscriber_jwt_key, &args.subscriber_jwt_key_file),
        (&file.subscriber_jwt_key, &file.subscriber_jwt_key_file),
    )?;
    Ok(AuthConfig {
        publisher_key: publisher.or_else(|| shared.clone()),
        subscriber_key: subscriber.or(shared),
        anonymous: args.anonymous || file.anonymous.unwrap_or(false),
        query_param: args.jwt_query_param || file.jwt_query_param.unwrap_or(false),
        audience: args.jwt_audience.clone().or_else(|| file.jwt_audience.clone()),
        issuer: args.jwt_issuer.clone().or_else(|| file.jwt_issuer.clone()),
    })
}

/// An origin is `*` or `scheme://host[:port]`, with nothing after.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let bad =
        || format!("invalid CORS origin {origin:?}: write it as scheme://host[:port], e.g. https://app.example.com");
    let url = Url::parse(origin).map_err(|_| bad())?;
    if url.host().is_none() || url.origin().ascii_serialization() != origin.trim_end_matches('/') {
        return Err(bad());
    }
    Ok(())
}

/// Both TLS files, or neither.
fn tls_files(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<TlsFiles>, String> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err("--tls-cert needs --tls-key too: give the certificate's private key (PEM)".into()),
        (None, Some(_)) => Err("--tls-key needs --tls-cert too: give the certificate chain (PEM)".into()),
    }
}

fn check_connections(limits: &ConnectionLimits) -> Result<(), String> {
    if limits.max_connections == 0 || limits.max_connections_per_ip == 0 {
        return Err("max-connections and max-connections-per-ip must be at least 1".into());
    }
    if limits.header_read_timeout.is_zero() || limits.idle_timeout.is_zero() {
        return Err("header-read-timeout and idle-timeout must be longer than 0s".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_bare() {
        for ok in ["*", "https://app.example.com", "http://localhost:3000", "https://a.example/"] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in ["app.example.com", "https://a.example/path", "https://a.example?x", "nonsense"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_keys_are_checked() {
        let cfg: FileConfig = toml::from_str("heartbeat = \"5s\"\nhistory_size = 3\ncors_origins = [\"*\"]").unwrap();
        assert_eq!(cfg.heartbeat, Some(Duration::from_secs(5)));
        assert_eq!(cfg.history_size, Some(3));
        assert!(toml::from_str::<FileConfig>("histroy_size = 3").is_err());
        assert!(toml::from_str::<FileConfig>("heartbeat = \"soon\"").is_err());
    }
}
