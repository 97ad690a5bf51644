//! URLs of network backends: passwords hidden in everything shown, and
//! configuration from the environment.

/// An environment variable: `None` when not set, an error naming it when not UTF-8.
pub(crate) fn env_var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

/// Query parameters that carry a password in Redis and Postgres URLs.
const SECRET_PARAMETERS: [&str; 2] = ["pass", "password"];

/// The URL with every password replaced by `***`: the one in the user
/// information (whatever characters it holds, `/`, `?` and `@` included) and
/// the ones in `pass=`/`password=` query parameters (Unix-socket URLs).
///
/// ```
/// use cronlock::lock::redact;
/// assert_eq!(redact("redis://app:s3/cr@t@cache:6379/0"), "redis://app:***@cache:6379/0");
/// assert_eq!(redact("redis+unix:///run/redis.sock?db=1&pass=hunter2"), "redis+unix:///run/redis.sock?db=1&pass=***");
/// ```
pub fn redact(url: &str) -> String {
    let parts = UrlParts::split(url);
    let mut out = parts.scheme.to_owned();
    if let Some(user_info) = parts.user_info {
        match user_info.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:***@")),
            None => out.push_str(&format!("{user_info}@")),
        }
    }
    out.push_str(parts.location);
    if let Some(query) = parts.query {
        out.push('?');
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((name, _)) if is_secret(name) => format!("{name}=***"),
                _ => parameter.to_owned(),
            })
            .collect();
        out.push_str(&parameters.join("&"));
    }
    out
}

fn is_secret(parameter: &str) -> bool {
    SECRET_PARAMETERS.contains(&parameter.to_ascii_lowercase().as_str())
}

/// A URL cut where a password can hide.
struct UrlParts<'a> {
    /// `redis://`, `postgres://`, or everything before the location when there is no `://`.
    scheme: &'a str,
    /// Everything before the last `@` of the authority.
    user_info: Option<&'a str>,
    /// Hosts, port, path.
    location: &'a str,
    query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> UrlParts<'a> {
        let (scheme, rest) = match url.find("://") {
            Some(end) => url.split_at(end + 3),
            None => ("", url),
        };
        // A Unix-socket path has no authority; otherwise the user
        // information ends at the last `@` (a password may hold `/`, `?` or
        // `@`; a host never does), and the query starts after it.
        let (user_info, after) = match rest.rfind('@') {
            Some(at) if !rest.starts_with('/') => (Some(&rest[..at]), &rest[at + 1..]),
            _ => (None, rest),
        };
        let (location, query) = match after.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (after, None),
        };
        UrlParts {
            scheme,
            user_info,
            location,
            query,
        }
    }

    /// The passwords the URL holds.
    fn secrets(&self) -> Vec<&'a str> {
        let mut found = Vec::new();
        if let Some((_, password)) = self.user_info.and_then(|info| info.split_once(':')) {
            found.push(password);
        }
        for parameter in self.query.into_iter().flat_map(|query| query.split('&')) {
            if let Some((name, value)) = parameter.split_once('=')
                && is_secret(name)
            {
                found.push(value);
            }
        }
        found
    }
}

/// `text` with every occurrence of `url`, and of the passwords in it, hidden.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    if url.is_empty() {
        return text.to_owned();
    }
    let mut text = text.replace(url, &redact(url));
    for secret in UrlParts::split(url).secrets() {
        if secret.len() >= 3 {
            text = text.replace(secret, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{redact, scrub};

    #[test]
    fn passwords_never_show() {
        let cases = [
            (
                "redis://:hunter2@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "rediss://app:hunter2@cache:6380",
                "rediss://app:***@cache:6380",
            ),
            ("redis://app@cache", "redis://app@cache"),
            ("redis://127.0.0.1", "redis://127.0.0.1"),
            ("redis://u:p@ss@host/1", "redis://u:***@host/1"),
            ("redis://u:a/b/c@host:1/2", "redis://u:***@host:1/2"),
            ("redis://:with/slash@host", "redis://:***@host"),
            ("redis://:a?b@host/0", "redis://:***@host/0"),
            (
                "redis+unix:///tmp/redis.sock?db=2&pass=hunter2",
                "redis+unix:///tmp/redis.sock?db=2&pass=***",
            ),
            (
                "unix:///tmp/r.sock?PASSWORD=x&user=u",
                "unix:///tmp/r.sock?PASSWORD=***&user=u",
            ),
            (
                "redis+sentinel://:pw@h1:26379,h2:26379/mymaster",
                "redis+sentinel://:***@h1:26379,h2:26379/mymaster",
            ),
            (
                "postgres://app:pw@db:5432/app?sslmode=disable",
                "postgres://app:***@db:5432/app?sslmode=disable",
            ),
            (
                "postgresql://db/app?user=app&password=pw",
                "postgresql://db/app?user=app&password=***",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(redact(url), expected, "{url}");
        }
    }

    #[test]
    fn errors_lose_the_password_wherever_it_appears() {
        let url = "redis://app:s3cret/x@cache:6379";
        let text = format!("cannot connect to {url}: auth s3cret/x refused");
        let scrubbed = scrub(&text, url);
        assert!(!scrubbed.contains("s3cret"), "{scrubbed}");
        assert!(
            scrubbed.contains("redis://app:***@cache:6379"),
            "{scrubbed}"
        );
    }
}
