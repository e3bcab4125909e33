//! A browser for one test: its own Chromium session and profile on the shared
//! chromedriver, a viewport of the scenario's size, a download folder, screenshots in
//! `target/e2e/<scenario>/`, and the console log checked for errors and failed requests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::driver::{self, INSTALL_HINT};

/// How long to wait for a page, an element or a download.
pub const WAIT: Duration = Duration::from_secs(15);

/// How long one WebDriver command may take before the test fails instead of hanging.
const COMMAND: Duration = Duration::from_secs(60);

/// A selector: XPath when it starts with `/` (for matching on text), CSS otherwise.
fn locator(selector: &str) -> Locator<'_> {
    if selector.starts_with('/') {
        Locator::XPath(selector)
    } else {
        Locator::Css(selector)
    }
}

/// Run one browser command, failing with `what` if the browser stops answering.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(COMMAND, fut)
        .await
        .unwrap_or_else(|_| panic!("the browser did not answer within {COMMAND:?}: {what}"))
}

/// The screen a scenario runs on.
#[derive(Debug, Clone)]
pub struct Window {
    /// Names the screenshot folder `target/e2e/<scenario>/`.
    pub scenario: &'static str,
    /// Viewport width in CSS pixels.
    pub width: u32,
    /// Viewport height in CSS pixels.
    pub height: u32,
    /// A phone: mobile viewport rules and touch.
    pub mobile: bool,
    /// JavaScript on (the default) or off.
    pub javascript: bool,
}

impl Window {
    /// A 375x812 phone.
    pub fn phone(scenario: &'static str) -> Self {
        Window {
            scenario,
            width: 375,
            height: 812,
            mobile: true,
            javascript: true,
        }
    }

    /// The booth's 1280x800 screen (kiosk) or a staff laptop.
    pub fn laptop(scenario: &'static str) -> Self {
        Window {
            scenario,
            width: 1280,
            height: 800,
            mobile: false,
            javascript: true,
        }
    }

    /// The 1920x1080 wall display.
    pub fn wall(scenario: &'static str) -> Self {
        Window {
            scenario,
            width: 1920,
            height: 1080,
            mobile: false,
            javascript: true,
        }
    }

    /// The same screen with JavaScript switched off in the browser's settings.
    pub fn without_javascript(self) -> Self {
        Window {
            javascript: false,
            ..self
        }
    }
}

/// One line of the browser's console log.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, ...
    pub level: String,
    /// `javascript`, `network`, `console-api`, `security`, ...
    #[serde(default)]
    pub source: String,
    /// The text, starting with the URL it concerns.
    pub message: String,
}

/// A Chromium session for one test. Call [`Browser::finish`] at the end; a test that
/// panics first still gets its Chromium killed (in `Drop`).
pub struct Browser {
    /// The WebDriver client, for anything the helpers below do not cover.
    pub c: Client,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
    /// `target/e2e/<scenario>/`
    pub shots: PathBuf,
    window: Window,
    chromium_pid: Option<i32>,
    step: AtomicU32,
    allowed: std::sync::Mutex<Vec<String>>,
    closed: bool,
    _profile: tempfile::TempDir,
}

/// The WebDriver log endpoint chromedriver keeps from the Selenium protocol; fantoccini
/// has no method for it.
#[derive(Debug)]
struct GetLog;

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

impl Browser {
    /// Start Chromium for `window`; fails with an install hint when it cannot.
    pub async fn open(window: Window) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let shots = driver::artifacts_dir().join(window.scenario);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();

        let mut args: Vec<String> = driver::HEADLESS.iter().map(|a| a.to_string()).collect();
        args.extend([
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            "--force-device-scale-factor=1".into(),
            "--lang=en-GB".into(),
            format!("--user-data-dir={}", profile.path().join("profile").display()),
            format!("--window-size={},{}", window.width, window.height),
        ]);
        let mut prefs = json!({
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
        });
        if !window.javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut options = json!({ "args": args, "prefs": prefs });
        // The viewport itself, not the window around it (whose frame takes ~140 px of a
        // desktop window's height): a wall is 1920x1080 of page. Touch emulation makes
        // chromedriver's clicks hang when JavaScript is off.
        options["mobileEmulation"] = json!({
            "deviceMetrics": {
                "width": window.width,
                "height": window.height,
                "pixelRatio": 1.0,
                "mobile": window.mobile,
                "touch": window.mobile && window.javascript,
            }
        });
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(driver::url())
            .await
            .unwrap_or_else(|e| panic!("Chromium did not start through chromedriver: {e}; {INSTALL_HINT}"));
        let chromium_pid = c
            .session_creation_response()
            .and_then(|r| r.capabilities())
            .and_then(|caps| caps.get("goog:processID"))
            .and_then(Value::as_i64)
            .map(|p| p as i32);
        let b = Browser {
            c,
            downloads,
            shots,
            window,
            chromium_pid,
            step: AtomicU32::new(0),
            allowed: Default::default(),
            closed: false,
            _profile: profile,
        };
        b.c.update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(60)),
            Some(Duration::from_secs(30)),
            None,
        ))
        .await
        .unwrap();
        b
    }

    /// Whether JavaScript is on in this browser.
    pub fn javascript(&self) -> bool {
        self.window.javascript
    }

    /// Go to `url`.
    pub async fn goto(&self, url: &str) {
        self.c
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The address bar.
    pub async fn url(&self) -> String {
        self.c.current_url().await.unwrap().to_string()
    }

    /// Wait for the first element matching `css` (or an XPath, see [`locator`]).
    pub async fn find(&self, css: &str) -> Element {
        match self.c.wait().at_most(WAIT).for_element(locator(css)).await {
            Ok(el) => el,
            Err(e) => panic!("no {css} on {}: {e}", self.url_or_unknown().await),
        }
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        !self.c.find_all(locator(css)).await.unwrap().is_empty()
    }

    /// The visible text of the first element matching `css`. A page that is being replaced
    /// (a form posting back, a live update) can take the element away between finding it
    /// and reading it: then it is found again on the new page.
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("cannot read {css} on {}: {e}", self.url_or_unknown().await),
            }
        }
    }

    /// The rendered text of the first element matching `css`, whitespace collapsed, or ""
    /// when there is none: for polling a page that updates itself, without waiting.
    pub async fn text_now(&self, css: &str) -> String {
        let v = self
            .c
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                vec![json!(css)],
            )
            .await
            .unwrap();
        v.as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Attribute `name` of every element matching `css`, in page order.
    pub async fn attr_of_all(&self, css: &str, name: &str) -> Vec<String> {
        let mut values = Vec::new();
        for el in self.c.find_all(locator(css)).await.unwrap() {
            values.push(el.attr(name).await.unwrap().unwrap_or_default());
        }
        values
    }

    /// The current value of a form field.
    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await.unwrap().unwrap_or_default()
    }

    /// Click into a field and type `text`, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        within(&format!("click into {css}"), field.click())
            .await
            .unwrap_or_else(|e| panic!("cannot click into {css}: {e}"));
        within(&format!("type into {css}"), field.send_keys(text))
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Click an element like a person would (fails if it is hidden or covered).
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.scroll_to(&el).await;
        within(&format!("click {css}"), el.click())
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Click and wait until the address bar leaves `from` (a form post or a link).
    pub async fn click_and_wait(&self, css: &str) {
        let from = self.url().await;
        self.click(css).await;
        self.wait_for(&format!("a new page after clicking {css}"), async || {
            self.url().await != from
        })
        .await;
        self.find("body").await;
    }

    /// Scroll `el` to the middle of the viewport, as a person would before reading it.
    pub async fn scroll_to(&self, el: &Element) {
        let arg = serde_json::to_value(el).unwrap();
        self.c
            .execute(
                "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
                vec![arg],
            )
            .await
            .unwrap();
    }

    /// The `id` of the focused element ("" for none).
    pub async fn focused_id(&self) -> String {
        let v = self
            .c
            .execute("return document.activeElement ? document.activeElement.id : ''", vec![])
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_string()
    }

    /// Poll `ready` until it holds, failing after [`WAIT`] with `what`.
    pub async fn wait_for(&self, what: &str, mut ready: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !ready().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Save a screenshot of the viewport as `target/e2e/<scenario>/NN-<label>.png`, and
    /// check the console log so far.
    pub async fn shot(&self, label: &str) -> PathBuf {
        let png = self.c.screenshot().await.unwrap();
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        let path = self.shots.join(format!("{n:02}-{label}.png"));
        std::fs::write(&path, png).unwrap();
        self.assert_clean_log(label).await;
        path
    }

    /// Accept a console error whose text contains `needle` (e.g. an expected 4xx).
    pub fn allow_in_log(&self, needle: &str) {
        self.allowed.lock().unwrap().push(needle.to_string());
    }

    /// The console entries since the last call.
    pub async fn log(&self) -> Vec<LogEntry> {
        let v = self.c.issue_cmd(GetLog).await.unwrap();
        serde_json::from_value(v).unwrap()
    }

    /// Fail on any JavaScript error, console error, CSP report or failed request logged
    /// since the last check.
    pub async fn assert_clean_log(&self, when: &str) {
        let allowed = self.allowed.lock().unwrap().clone();
        let bad: Vec<LogEntry> = self
            .log()
            .await
            .into_iter()
            .filter(|e| e.level == "SEVERE" && !allowed.iter().any(|a| e.message.contains(a)))
            .collect();
        assert!(
            bad.is_empty(),
            "the browser logged errors ({} {when}):\n{}",
            self.window.scenario,
            bad.iter()
                .map(|e| format!("  [{}] {}", e.source, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Wait for a finished download named `name` and return its path.
    pub async fn downloaded(&self, name: &str) -> PathBuf {
        let path = self.downloads.join(name);
        let partial = self.downloads.join(format!("{name}.crdownload"));
        self.wait_for(&format!("the download {name}"), async || {
            path.exists() && !partial.exists()
        })
        .await;
        path
    }

    /// Check the log one last time and end the session.
    pub async fn finish(mut self) {
        self.assert_clean_log("at the end").await;
        // If the driver cannot close it, `Drop` kills it.
        self.closed = self.c.clone().close().await.is_ok();
    }

    async fn url_or_unknown(&self) -> String {
        match self.c.current_url().await {
            Ok(u) => u.to_string(),
            Err(_) => "(unknown page)".into(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed
            && let Some(pid) = self.chromium_pid
        {
            // The test failed before `finish` (or the driver could not close it): its
            // runtime may be gone, so end Chromium directly rather than through the driver.
            // SAFETY: signalling the browser process this session started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}
