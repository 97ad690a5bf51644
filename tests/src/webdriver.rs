//! Headless Chromium driven over WebDriver: `chromedriver` from the
//! `chromium-driver` package, started on a free loopback port, one session.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::free_port;
use crate::http::request;

/// The W3C name of the key that identifies an element in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session; both end on
/// drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

/// An element of the page, by its WebDriver id.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    /// Its WebDriver id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of 1280×1000.
    ///
    /// # Panics
    ///
    /// When `chromedriver` or `chromium` is missing (install `chromium
    /// chromium-driver`, or run ./scripts/test) or does not start.
    pub fn start() -> Browser {
        let port = free_port().expect("a free port");
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("chromedriver does not start ({err}): install it with `apt-get install -y chromium chromium-driver`, or run ./scripts/test")
            });
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile =
            std::env::temp_dir().join(format!("cronlock-chromium-{}-{port}", std::process::id()));
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium_binary(),
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--window-size=1280,1000",
                        format!("--user-data-dir={}", profile.display()),
                    ]
                }
            }}
        });
        let answer = call(addr, "POST", "/session", Some(&capabilities));
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        Browser {
            driver,
            addr,
            session,
            profile,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        call(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    /// Opens `url` and waits for it to load.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns what it returns.
    pub fn script(&self, script: &str, args: &[Value]) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<Element> {
        let answer = call_raw(
            self.addr,
            "POST",
            &format!("/session/{}/element", self.session),
            Some(&json!({ "using": "css selector", "value": css })),
        );
        answer
            .get("value")
            .and_then(|value| value.get(ELEMENT))
            .and_then(Value::as_str)
            .map(|id| Element(id.to_owned()))
    }

    /// Waits up to `limit` for `check` to return `Some`, polling every
    /// 100 ms.
    ///
    /// # Panics
    ///
    /// When it does not within `limit`; the message says what was awaited.
    pub fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "waited {limit:?} for {what}; the page:\n{}",
                self.source()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text of the first element matching `css`, if there is one
    /// (read in one script, so a page that replaces its elements cannot
    /// make it stale).
    pub fn text(&self, css: &str) -> Option<String> {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            &[json!(css)],
        )
        .as_str()
        .map(str::to_owned)
    }

    /// Clicks the first element matching `css`, as a user would.
    ///
    /// # Panics
    ///
    /// When there is none, or it keeps being replaced under the click.
    pub fn click(&self, css: &str) {
        self.on_element(css, "click", &json!({}));
    }

    /// Types `text` into the first element matching `css`.
    ///
    /// # Panics
    ///
    /// As [`Browser::click`].
    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "value", &json!({ "text": text }));
    }

    /// Finds the element and sends it `action`; a page that refreshes
    /// itself may replace the element in between (a stale reference), so
    /// that is tried again.
    fn on_element(&self, css: &str, action: &str, body: &Value) {
        for _ in 0..20 {
            let element = self
                .find(css)
                .unwrap_or_else(|| panic!("no element matches {css}"));
            let answer = call_raw(
                self.addr,
                "POST",
                &format!("/session/{}/element/{}/{action}", self.session, element.0),
                Some(body),
            );
            match answer["value"].get("error").and_then(Value::as_str) {
                None => return,
                Some("stale element reference") => std::thread::sleep(Duration::from_millis(20)),
                Some(error) => panic!("{action} on {css}: {error}: {}", answer["value"]["message"]),
            }
        }
        panic!("{css} was replaced under every {action}");
    }

    /// A PNG of the window.
    ///
    /// # Panics
    ///
    /// When the driver sends no image.
    pub fn screenshot(&self) -> Vec<u8> {
        let answer = self.command("GET", "/screenshot", None);
        decode_base64(answer.as_str().expect("a screenshot"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call_raw(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where the system's Chromium is (Debian: /usr/bin/chromium).
fn chromium_binary() -> String {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or("chromium")
        .to_owned()
}

/// One WebDriver call: the answer's `value`, or a panic with the error.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let answer = call_raw(addr, method, path, body);
    if let Some(error) = answer["value"].get("error") {
        panic!(
            "WebDriver {method} {path}: {error}: {}",
            answer["value"]["message"]
        );
    }
    answer["value"].clone()
}

fn call_raw(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    let response = request(addr, method, path, headers, &body);
    serde_json::from_str(&response.body).unwrap_or(Value::Null)
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, digit)| acc | (digit << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}
