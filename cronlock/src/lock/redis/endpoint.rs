//! Where Redis is: one endpoint, a Sentinel-watched primary, or a Cluster,
//! as a URL says it.
//!
//! ```text
//! redis://[user:password@]host:port[/db]            one endpoint (rediss:// for TLS)
//! redis+unix:///path/redis.sock[?db=N&pass=P]       one endpoint, Unix socket
//! redis+sentinel://[user:password@]host:port[,host:port…]/master[/db]
//!     [?sentinel_username=U&sentinel_password=P]    sentinels and the master's name
//! redis+cluster://[user:password@]host:port[,host:port…]   seed nodes of a Cluster
//! ```
//!
//! `rediss+sentinel://` and `rediss+cluster://` use TLS for every node. The
//! user and password are the data nodes'; a Sentinel's own credentials go
//! in the query. Any of them may end with `?wait_replicas=N&wait_timeout=…`
//! (see [`RedisLockConfig::wait_for_replicas`](super::RedisLockConfig::wait_for_replicas)).

use std::fmt;
use std::time::Duration;

/// The kind of Redis deployment a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Deployment {
    /// One endpoint: a standalone server, or a managed service's primary
    /// endpoint (or a proxy) that always reaches the current primary.
    Standalone,
    /// A primary and its replicas watched by Redis Sentinel: the primary is
    /// found through the sentinels, again after a failover.
    Sentinel,
    /// A Redis Cluster: keys spread over hash slots on several primaries.
    Cluster,
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deployment::Standalone => "Redis",
            Deployment::Sentinel => "Redis Sentinel",
            Deployment::Cluster => "Redis Cluster",
        })
    }
}

/// A parsed URL: the deployment and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// The URL for redis-rs as it is (the durability parameters removed).
    Standalone { url: String },
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
        tls: bool,
        db: i64,
        username: Option<String>,
        password: Option<String>,
        sentinel_username: Option<String>,
        sentinel_password: Option<String>,
    },
    Cluster {
        /// `redis://[user:password@]host:port` per seed node (`rediss://` for TLS).
        nodes: Vec<String>,
        tls: bool,
    },
}

/// The durability asked for in a URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct UrlDurability {
    pub(super) replicas: Option<u32>,
    pub(super) timeout: Option<Duration>,
}

impl Endpoint {
    pub(super) fn deployment(&self) -> Deployment {
        match self {
            Endpoint::Standalone { .. } => Deployment::Standalone,
            Endpoint::Sentinel { .. } => Deployment::Sentinel,
            Endpoint::Cluster { .. } => Deployment::Cluster,
        }
    }

    /// Who the lock talks to, for messages (no password).
    pub(super) fn describe(&self, redacted_url: &str) -> String {
        match self {
            Endpoint::Standalone { .. } => format!("Redis at {redacted_url}"),
            Endpoint::Sentinel {
                sentinels, master, ..
            } => format!(
                "Redis Sentinel master `{master}` (sentinels {})",
                addresses(sentinels)
            ),
            Endpoint::Cluster { nodes, .. } => {
                let seeds: Vec<&str> = nodes
                    .iter()
                    .map(|node| node.rsplit('@').next().unwrap_or(node))
                    .map(|node| node.split("://").last().unwrap_or(node))
                    .collect();
                let more = if seeds.len() > 3 { ",…" } else { "" };
                format!(
                    "Redis Cluster (seed nodes {}{more})",
                    seeds[..seeds.len().min(3)].join(",")
                )
            }
        }
    }

    /// Reads a URL.
    pub(super) fn parse(url: &str) -> Result<(Endpoint, UrlDurability), String> {
        let (base, query) = split_query(url);
        let mut durability = UrlDurability::default();
        let mut rest_query = Vec::new();
        let mut sentinel_username = None;
        let mut sentinel_password = None;
        for parameter in query.iter().flat_map(|query| query.split('&')) {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            match name {
                "wait_replicas" => {
                    durability.replicas = Some(value.parse().map_err(|_| {
                        format!("wait_replicas={value}: expected a whole number of replicas")
                    })?);
                }
                "wait_timeout" => {
                    durability.timeout = Some(
                        cronlock_spec::parse_duration(value)
                            .map_err(|err| format!("wait_timeout={value}: {err}"))?,
                    );
                }
                "sentinel_username" => sentinel_username = Some(decode(value)),
                "sentinel_password" => sentinel_password = Some(decode(value)),
                _ => rest_query.push(parameter),
            }
        }
        let scheme = base.split("://").next().unwrap_or_default();
        let endpoint = match scheme {
            "redis+sentinel" | "rediss+sentinel" => {
                let (user_info, hosts, path) = authority(base)?;
                let mut parts = path.split('/').filter(|part| !part.is_empty());
                let master = parts
                    .next()
                    .ok_or("a Sentinel URL names the master after the hosts: redis+sentinel://host:26379/mymaster")?
                    .to_owned();
                let db = match parts.next() {
                    Some(db) => db
                        .parse()
                        .map_err(|_| format!("database `{db}` is not a number"))?,
                    None => 0,
                };
                let (username, password) = credentials(user_info);
                Endpoint::Sentinel {
                    sentinels: hosts_and_ports(hosts, 26379)?,
                    master,
                    tls: scheme.starts_with("rediss"),
                    db,
                    username,
                    password,
                    sentinel_username,
                    sentinel_password,
                }
            }
            "redis+cluster" | "rediss+cluster" => {
                let (user_info, hosts, _) = authority(base)?;
                let tls = scheme.starts_with("rediss");
                let node_scheme = if tls { "rediss" } else { "redis" };
                let prefix = user_info.map_or(String::new(), |info| format!("{info}@"));
                let nodes = hosts_and_ports(hosts, 6379)?
                    .into_iter()
                    .map(|(host, port)| format!("{node_scheme}://{prefix}{host}:{port}"))
                    .collect();
                Endpoint::Cluster { nodes, tls }
            }
            _ => {
                let url = if rest_query.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", rest_query.join("&"))
                };
                Endpoint::Standalone { url }
            }
        };
        Ok((endpoint, durability))
    }
}

fn split_query(url: &str) -> (&str, Option<&str>) {
    // The query starts after the user information (a password may hold `?`).
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let from = url[after_scheme..]
        .rfind('@')
        .map_or(after_scheme, |at| after_scheme + at);
    match url[from..].find('?') {
        Some(at) => (&url[..from + at], Some(&url[from + at + 1..])),
        None => (url, None),
    }
}

/// User information, the host list and the path of a multi-host URL.
fn authority(base: &str) -> Result<(Option<&str>, &str, &str), String> {
    let rest = base
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or("missing `://`")?;
    let (user_info, rest) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    if hosts.is_empty() {
        return Err("no host in the URL".to_owned());
    }
    Ok((user_info, hosts, path))
}

fn credentials(user_info: Option<&str>) -> (Option<String>, Option<String>) {
    match user_info {
        None => (None, None),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((user, password)) => (user, Some(decode(password))),
                None => (info, None),
            };
            (Some(decode(user)).filter(|user| !user.is_empty()), password)
        }
    }
}

fn hosts_and_ports(hosts: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    hosts
        .split(',')
        .map(|host| match host.rsplit_once(':') {
            Some((name, port)) => port
                .parse()
                .map(|port| (name.to_owned(), port))
                .map_err(|_| format!("port `{port}` of `{host}` is not a number")),
            None => Ok((host.to_owned(), default_port)),
        })
        .collect()
}

fn addresses(hosts: &[(String, u16)]) -> String {
    hosts
        .iter()
        .map(|(host, port)| format!("{host}:{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `%XX` escapes decoded (for passwords with reserved characters).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("<url>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_deployment() {
        let (sentinel, durability) = Endpoint::parse(
            "rediss+sentinel://app:p%40ss@10.0.0.1:26379,10.0.0.2/mymaster/2?sentinel_password=s&wait_replicas=1&wait_timeout=50ms",
        )
        .unwrap();
        assert_eq!(
            sentinel,
            Endpoint::Sentinel {
                sentinels: vec![("10.0.0.1".into(), 26379), ("10.0.0.2".into(), 26379)],
                master: "mymaster".into(),
                tls: true,
                db: 2,
                username: Some("app".into()),
                password: Some("p@ss".into()),
                sentinel_username: None,
                sentinel_password: Some("s".into()),
            }
        );
        assert_eq!(durability.replicas, Some(1));
        assert_eq!(durability.timeout, Some(Duration::from_millis(50)));
        let (cluster, _) = Endpoint::parse("redis+cluster://:pw@h1:7000,h2:7001").unwrap();
        assert_eq!(
            cluster,
            Endpoint::Cluster {
                nodes: vec!["redis://:pw@h1:7000".into(), "redis://:pw@h2:7001".into()],
                tls: false,
            }
        );
        let (single, durability) = Endpoint::parse("redis://:a?b@host/0?wait_replicas=2").unwrap();
        assert_eq!(
            single,
            Endpoint::Standalone {
                url: "redis://:a?b@host/0".into()
            }
        );
        assert_eq!(durability.replicas, Some(2));
        assert!(Endpoint::parse("redis+sentinel://h1:26379").is_err());
        assert!(Endpoint::parse("redis+cluster://h1:x").is_err());
    }
}
