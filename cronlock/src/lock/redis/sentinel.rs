//! Finding the primary through Redis Sentinel, safely. Taking the first
//! sentinel's answer whose node says it is a master (what redis-rs does) is
//! not enough: a sentinel that has not yet heard of a failover still names
//! the old primary, and an old primary restarted without persistence says
//! it is a master (empty) until the sentinels turn it into a replica, some
//! seconds later. Connected there, an instance would claim ticks on a node
//! whose writes are about to be thrown away while the rest of the fleet
//! claims them again on the real primary. So every sentinel is asked (the
//! address it advertises, which is the promoted replica as soon as it holds
//! the failover's epoch, and that epoch), and the answer with the newest
//! configuration epoch wins (a failover raises
//! the epoch, and only a majority of sentinels can authorise one), so one
//! sentinel that saw the failover outranks lagging ones; answers that tie
//! on the epoch but name different nodes (a sentinel watching another
//! master under the same name) are settled by a majority of the configured
//! sentinels. The node must then say it is a master.

use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, ServerErrorKind,
};

use super::config::RedisLockConfig;
use super::endpoint::Endpoint;
use super::tls::tls_feature_missing;

/// The sentinels of one master, and how to reach the node they name.
pub(super) struct Sentinels {
    each: Vec<redis::Client>,
    master: String,
    node: NodeSettings,
}

/// What a connection to a data node needs besides its address.
struct NodeSettings {
    tls: bool,
    redis: RedisConnectionInfo,
    #[cfg(feature = "tls")]
    certificates: Option<redis::TlsCertificates>,
}

impl NodeSettings {
    /// A client for `host:port` with these settings.
    fn client(
        &self,
        host: &str,
        port: u16,
        redis: RedisConnectionInfo,
    ) -> Result<redis::Client, RedisError> {
        let address = if self.tls {
            ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.to_owned(), port)
        };
        let info = address.into_connection_info()?.set_redis_settings(redis);
        #[cfg(feature = "tls")]
        if let (true, Some(certificates)) = (self.tls, &self.certificates) {
            return redis::Client::build_with_tls(info, certificates.clone());
        }
        redis::Client::open(info)
    }
}

impl Sentinels {
    pub(super) fn new(
        config: &RedisLockConfig,
        endpoint: &Endpoint,
    ) -> Result<Sentinels, RedisError> {
        let Endpoint::Sentinel {
            sentinels,
            master,
            tls,
            db,
            username,
            password,
            sentinel_username,
            sentinel_password,
        } = endpoint
        else {
            return Err(RedisError::from((
                ErrorKind::Client,
                "not a Sentinel endpoint",
            )));
        };
        if *tls && !cfg!(feature = "tls") {
            return Err(tls_feature_missing());
        }
        #[cfg(feature = "tls")]
        if *tls {
            super::tls::install_crypto_provider();
        }
        let settings = |username: &Option<String>, password: &Option<String>| {
            let mut settings = RedisConnectionInfo::default();
            if let Some(username) = username {
                settings = settings.set_username(username);
            }
            if let Some(password) = password {
                settings = settings.set_password(password);
            }
            settings
        };
        let node = NodeSettings {
            tls: *tls,
            redis: settings(username, password).set_db(*db),
            #[cfg(feature = "tls")]
            certificates: config.tls_root.as_ref().map(|root| redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            }),
        };
        let _ = config;
        let each = sentinels
            .iter()
            .map(|(host, port)| {
                node.client(host, *port, settings(sentinel_username, sentinel_password))
            })
            .collect::<Result<Vec<_>, RedisError>>()?;
        Ok(Sentinels {
            each,
            master: master.clone(),
            node,
        })
    }

    /// A connection to the primary the sentinels name (see [`choose`]),
    /// once it says it is a master. Every sentinel is asked at once, each
    /// within the connect and reply timeouts.
    pub(super) async fn connect_to_primary(
        &self,
        config: &AsyncConnectionConfig,
    ) -> Result<MultiplexedConnection, RedisError> {
        let answers = join_all(
            self.each
                .iter()
                .map(|sentinel| self.named_by(sentinel, config)),
        )
        .await;
        let Some(primary) = choose(&answers, self.each.len()) else {
            return Err(self.no_primary(answers));
        };
        let (host, port) = (&primary.host, &primary.port);
        let mut connection = self
            .node
            .client(host, *port, self.node.redis.clone())?
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut connection).await?;
        if !matches!(role.first(), Some(redis::Value::BulkString(role)) if role == b"master") {
            return Err(RedisError::from((
                ErrorKind::Server(ServerErrorKind::MasterDown),
                "the node the sentinels name is not a master yet",
                format!("{host}:{port}"),
            )));
        }
        Ok(connection)
    }

    /// The primary one sentinel names (`None`: it knows no such master).
    async fn named_by(
        &self,
        sentinel: &redis::Client,
        config: &AsyncConnectionConfig,
    ) -> Result<Option<Named>, RedisError> {
        let mut connection = sentinel
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        // The address from GET-MASTER-ADDR-BY-NAME: during a failover it is
        // the promoted replica as soon as this sentinel holds the new epoch,
        // while SENTINEL MASTER still shows the old address until the
        // failover ends; the epoch from SENTINEL MASTER.
        let address: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&self.master)
            .query_async(&mut connection)
            .await?;
        let Some((host, port)) = address else {
            return Ok(None);
        };
        let fields: std::collections::HashMap<String, String> = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(&self.master)
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        let epoch = fields
            .get("config-epoch")
            .and_then(|epoch| epoch.parse().ok())
            .unwrap_or(0);
        Ok(Some(Named { host, port, epoch }))
    }

    /// Why no primary could be chosen: the sentinels' own failure when none
    /// answered (refused credentials say so), an unknown master name when
    /// every one that answered knows none, else a failover in progress.
    fn no_primary(&self, answers: Vec<Result<Option<Named>, RedisError>>) -> RedisError {
        let listed: Vec<String> = answers
            .iter()
            .map(|answer| match answer {
                Ok(Some(named)) => format!("{}:{} (epoch {})", named.host, named.port, named.epoch),
                Ok(None) => "no such master".to_owned(),
                Err(err) => format!("no answer ({err})"),
            })
            .collect();
        let detail = format!(
            "{} sentinels asked for {:?}: {}",
            self.each.len(),
            self.master,
            listed.join(", ")
        );
        if answers.iter().all(Result::is_err) {
            return answers
                .into_iter()
                .find_map(Result::err)
                .unwrap_or_else(|| RedisError::from((ErrorKind::Io, "no sentinel answered")));
        }
        if answers
            .iter()
            .all(|answer| matches!(answer, Ok(None) | Err(_)))
        {
            return RedisError::from((
                ErrorKind::InvalidClientConfig,
                "the sentinels know no master by that name",
                detail,
            ));
        }
        // MASTERDOWN: retried like a primary that is not ready yet.
        RedisError::from((
            ErrorKind::Server(ServerErrorKind::MasterDown),
            "the sentinels disagree on the primary (a failover in progress?)",
            detail,
        ))
    }
}

/// A sentinel's answer: the master's address and the configuration epoch
/// it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    host: String,
    port: u16,
    epoch: u64,
}

/// The primary to use: the address named with the newest epoch; when
/// different addresses share it, the one a majority of the `configured`
/// sentinels names, else none.
fn choose(answers: &[Result<Option<Named>, RedisError>], configured: usize) -> Option<&Named> {
    let named: Vec<&Named> = answers
        .iter()
        .filter_map(|answer| answer.as_ref().ok().and_then(Option::as_ref))
        .collect();
    let newest = named.iter().map(|named| named.epoch).max()?;
    let at_newest: Vec<&Named> = named
        .into_iter()
        .filter(|named| named.epoch == newest)
        .collect();
    let same_place = |a: &Named, b: &Named| a.host == b.host && a.port == b.port;
    if at_newest
        .iter()
        .all(|named| same_place(named, at_newest[0]))
    {
        return Some(at_newest[0]);
    }
    at_newest.iter().copied().find(|candidate| {
        at_newest
            .iter()
            .filter(|named| same_place(named, candidate))
            .count()
            * 2
            > configured
    })
}

#[cfg(test)]
mod tests {
    use super::{Named, choose};

    fn at(port: u16, epoch: u64) -> Result<Option<Named>, redis::RedisError> {
        Ok(Some(Named {
            host: "127.0.0.1".into(),
            port,
            epoch,
        }))
    }

    #[test]
    fn the_newest_epoch_wins_even_in_a_minority() {
        // Two sentinels have not heard of the failover yet.
        let answers = [at(1, 4), at(1, 4), at(2, 5)];
        assert_eq!(choose(&answers, 3).map(|named| named.port), Some(2));
    }

    #[test]
    fn a_tie_on_the_epoch_needs_a_majority() {
        let answers = [at(9, 0), at(1, 0), at(1, 0)];
        assert_eq!(choose(&answers, 3).map(|named| named.port), Some(1));
        let split = [at(9, 0), at(1, 0), Ok(None)];
        assert_eq!(choose(&split, 3), None);
        assert_eq!(choose(&[Ok(None), Ok(None)], 2), None);
    }

    #[test]
    fn one_answering_sentinel_is_enough_when_no_one_contradicts_it() {
        let down = || {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connection refused",
            )))
        };
        let answers = [down(), at(1, 3), down()];
        assert_eq!(choose(&answers, 3).map(|named| named.port), Some(1));
    }
}
