//! Headless Chromium driven through ChromeDriver (Debian's `chromium` and `chromium-driver`) with
//! fantoccini, for end-to-end tests.
//!
//! Each [`Browser`] has its own ChromeDriver on a free loopback port and a fresh profile
//! directory. Chromium runs with the flags this machine needs (no sandbox as root, no background
//! networking: the network is closed). `scripts/setup-e2e` installs both programs.

#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{ClientBuilder, Locator};
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// ChromeDriver, looked up on PATH.
pub const CHROMEDRIVER: &str = "chromedriver";

/// How long [`Browser::wait_for`] and [`Browser::wait_for_url`] wait.
pub const WAIT: Duration = Duration::from_secs(15);

fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).is_file() {
        return Some(format!("{CHROMIUM} is missing"));
    }
    let driver = std::process::Command::new(CHROMEDRIVER)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !driver.is_ok_and(|s| s.success()) {
        return Some(format!("`{CHROMEDRIVER}` is not on PATH"));
    }
    None
}

/// Makes sure Chromium and ChromeDriver are installed; panics with the reason when they are
/// not, so that a browser test never passes without its browser. `scripts/test` installs them.
pub fn require() {
    if let Some(why) = missing() {
        panic!(
            "the browser tests need Chromium and ChromeDriver: {why}; run scripts/test (or scripts/setup-e2e)"
        );
    }
}

/// The Chromium command-line flags used for every session (besides `--user-data-dir`).
pub const CHROMIUM_ARGS: [&str; 9] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

/// A headless Chromium session. Dropping it kills ChromeDriver and the browser; [`Browser::close`]
/// ends the session politely first.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
    profile: TempDir,
}

impl Browser {
    /// See [`require`].
    pub fn require() {
        require()
    }

    /// Starts ChromeDriver on a free port and opens a Chromium session with a fresh profile.
    pub async fn start() -> Browser {
        shipyard::install_crypto_provider();
        let profile = tempfile::Builder::new()
            .prefix("shipyard-chromium-")
            .tempdir()
            .expect("temporary profile directory");
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut driver = spawn_driver(port, &profile.path().join("chromedriver.log"));
            match wait_until_ready(port, &mut driver).await {
                Ok(()) => {
                    let client = connect(port, &profile.path().join("chromium")).await;
                    return Browser {
                        client,
                        driver,
                        profile,
                    };
                }
                Err(e) => {
                    kill_group(&driver);
                    last_error = e;
                }
            }
        }
        panic!("chromedriver did not start: {last_error}")
    }

    /// Ends the WebDriver session (closing Chromium), then stops ChromeDriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        // Drop stops ChromeDriver and anything left of its browser.
    }

    /// The profile directory (`chromium/`) and ChromeDriver's log (`chromedriver.log`).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The current URL.
    pub async fn url(&self) -> reqwest::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// Waits up to [`WAIT`] for an element matching the CSS selector; panics with the page's URL
    /// and source when none comes.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let source = self.source().await;
                panic!("no element {css:?} ({e}) at {url:?}:\n{source}")
            }
        }
    }

    /// Finds an element now, without waiting.
    pub async fn find(&self, css: &str) -> Option<Element> {
        self.client.find(Locator::Css(css)).await.ok()
    }

    /// Text of the element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
    }

    /// Clears the input matching `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.wait_for(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css:?}: {e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Waits up to [`WAIT`] until the current URL satisfies `ready`; returns it.
    pub async fn wait_for_url(
        &self,
        what: &str,
        ready: impl Fn(&reqwest::Url) -> bool,
    ) -> reqwest::Url {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(url) = self.client.current_url().await
                && ready(&url)
            {
                return url;
            }
            if tokio::time::Instant::now() >= deadline {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!(
                    "URL never became {what}: still {url:?}:\n{}",
                    self.source().await
                )
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in on a Keycloak login page (`#username`, `#password`, `#kc-login`), as the loopback
    /// provider of `oidc_provider.rs` and Keycloak itself render it.
    pub async fn keycloak_login(&self, username: &str, password: &str) {
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("#kc-login").await;
    }

    /// Saves a PNG screenshot of the page.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&self.driver);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}

/// ChromeDriver in a process group of its own, so that the browsers it starts can be killed with
/// it (killing ChromeDriver alone leaves Chromium running).
fn spawn_driver(port: u16, log: &Path) -> Child {
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"))
}

fn kill_group(driver: &Child) {
    if let Some(pid) = driver.id() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Polls ChromeDriver's `/status` until it says ready.
async fn wait_until_ready(port: u16, driver: &mut Child) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{port}/status");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("chromedriver exited with {status}"));
        }
        if let Ok(response) = http.get(&url).send().await
            && let Ok(body) = response.json::<serde_json::Value>().await
            && body["value"]["ready"].as_bool() == Some(true)
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("{url} not ready within 15 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(port: u16, user_data_dir: &Path) -> fantoccini::Client {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", user_data_dir.display()));
    args.push("--window-size=1280,900".to_owned());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session via {webdriver}: {e}"))
}
