//! Who may look and act: auth on every request, the CSRF and same-origin
//! rules for actions, and the headers that keep pages to their own assets.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Auth, Shared};

/// Who made a request, as actions are logged and written to the history.
#[derive(Debug, Clone)]
pub(super) struct Identity(pub(super) String);

/// Every request: auth first (401 without it), the identity for actions,
/// and the security headers on every answer.
pub(super) async fn guard(
    State(dashboard): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = match &dashboard.config.auth {
        None if !dashboard.config.any_host && !loopback_host(request.headers()) => {
            return with_headers(
                (
                    StatusCode::MISDIRECTED_REQUEST,
                    "without auth this dashboard answers only requests to localhost, 127.0.0.1 or [::1]\n",
                )
                    .into_response(),
            );
        }
        None => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string());
            match peer {
                Some(ip) => format!("dashboard (no auth) from {ip}"),
                None => "dashboard (no auth)".to_owned(),
            }
        }
        Some(auth) => match authenticate(auth, request.headers()) {
            Some(identity) => identity,
            None => return with_headers(refuse_auth(auth)),
        },
    };
    request.extensions_mut().insert(Identity(identity));
    with_headers(next.run(request).await)
}

/// Whether the request names a loopback host (any port), as a browser
/// does for a page it loaded from one; a rebound DNS name does not.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return true; // HTTP/1.0 without Host: not a browser page
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The identity the `Authorization` header proves, if it does.
fn authenticate(auth: &Auth, headers: &HeaderMap) -> Option<String> {
    let given = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = given.split_once(' ')?;
    let credentials = credentials.trim().as_bytes();
    match auth {
        Auth::Bearer(token) if scheme.eq_ignore_ascii_case("bearer") => {
            same_secret(credentials, token.as_bytes()).then(|| "bearer token".to_owned())
        }
        Auth::Basic { user, password } if scheme.eq_ignore_ascii_case("basic") => {
            let expected = base64(format!("{user}:{password}").as_bytes());
            same_secret(credentials, expected.as_bytes()).then(|| user.clone())
        }
        _ => None,
    }
}

fn refuse_auth(auth: &Auth) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    let challenge = match auth {
        Auth::Basic { .. } => "Basic realm=\"cronlock\", charset=\"UTF-8\"",
        Auth::Bearer(_) => "Bearer realm=\"cronlock\"",
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// Whether an action may go ahead: `POST`, the page's CSRF token, and (when
/// the browser says where it comes from) the same origin. `Err` says why not.
pub(super) fn check_action(
    method: &Method,
    headers: &HeaderMap,
    token: Option<&str>,
    csrf: &str,
) -> Result<(), &'static str> {
    if method != Method::POST {
        return Err("actions are POST requests");
    }
    if !same_origin(headers) {
        return Err("cross-site request refused");
    }
    match token {
        Some(token) if same_secret(token.as_bytes(), csrf.as_bytes()) => Ok(()),
        _ => Err("missing or wrong CSRF token: reload the page"),
    }
}

/// A browser names the page a request comes from: `Origin` (its host must
/// be the one the request was sent to) or `Sec-Fetch-Site`. A request
/// with neither (a script, curl) is judged by its token alone.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(origin) = text("origin") {
        let Some((_, origin_host)) = origin.split_once("://") else {
            return false; // "null": a sandboxed or file page
        };
        let hosts = [text("host"), text("x-forwarded-host")];
        return hosts
            .into_iter()
            .flatten()
            .any(|host| host.eq_ignore_ascii_case(origin_host));
    }
    match text("sec-fetch-site") {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => true,
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Standard base64 with padding (what browsers send for basic auth).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Pages use only their own stylesheet and script: no inline script runs,
/// even if some text escaped the escaping; no other site may frame them.
fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b"ops:secret"), "b3BzOnNlY3JldA==");
        assert_eq!(base64(b"a:bc"), "YTpiYw==");
        assert_eq!(base64(b"ab:c"), "YWI6Yw==");
        assert_eq!(base64(b"abc:de"), "YWJjOmRl");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn origins_must_name_the_host_the_request_went_to() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:9090"),
            ("host", "127.0.0.1:9090")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:9090")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:9090")
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&headers(&[])));
    }

    #[test]
    fn loopback_hosts_are_told_from_rebound_names() {
        let host = |value: &'static str| {
            let mut map = HeaderMap::new();
            map.insert(header::HOST, HeaderValue::from_static(value));
            map
        };
        for loopback in [
            "localhost:9090",
            "127.0.0.1:9090",
            "127.0.0.1",
            "[::1]:9090",
            "LOCALHOST",
            "app.localhost:80",
        ] {
            assert!(loopback_host(&host(loopback)), "{loopback}");
        }
        for other in [
            "evil.example:9090",
            "10.0.0.1:9090",
            "localhost.evil.example",
            "[2001:db8::1]:80",
        ] {
            assert!(!loopback_host(&host(other)), "{other}");
        }
    }
}
