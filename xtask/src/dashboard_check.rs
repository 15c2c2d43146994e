//! `cargo xtask dashboard-check`: the dashboard in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over the W3C WebDriver protocol against the release binary.
//!
//! It opens a deep link and checks that the numbers in the page's tables equal the API's
//! answer for the same view; that the picker lists the seed's organizations and locations;
//! that a view opened without a window defaults to the latest day with data; that errors
//! (404, and 401 with keys on) are shown in words; and that a key typed into the page is used
//! and then kept out of the URL, by the script and by a submit without it; that a window with
//! gaps carries the coverage warning; and that a hostile deep link (`?sensor=..%2F..%2Fmetrics`)
//! is refused before the page fetches anything with it. It saves a screenshot of the deep
//! link.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::service::{self, Server};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const EAST: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
const BRAND: &str = "11111111-1111-1111-1111-111111111111";
const DAY: &str = "start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";

pub fn run(root: &Path, screenshot: Option<PathBuf>) -> Result<()> {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        ensure!(
            Path::new(tool).is_file(),
            "{tool} is missing: apt-get install chromium chromium-driver"
        );
    }
    let scratch = service::scratch_dir(root, "dashboard")?;
    let screenshot = screenshot.unwrap_or_else(|| scratch.join("dashboard.png"));
    let release = service::build_release(root)?;
    let open = Server::start(&release, &[])?;
    let key = crate::apikey::new_key()?;
    let keys_file = scratch.join("keys");
    let scope = insights_http::auth::KeyScope::Organization(
        EAST.parse::<uuid::Uuid>().expect("a literal UUID").into(),
    );
    std::fs::write(
        &keys_file,
        insights_http::auth::key_line(&scope, &key, "dashboard"),
    )?;
    let keyed = Server::start(
        &release,
        &[("INSIGHTS_API_KEYS_FILE", keys_file.display().to_string())],
    )?;
    let driver = Driver::start(&scratch)?;
    let browser = driver.session()?;

    deep_link_matches_the_api(&browser, &open, &screenshot)?;
    println!(
        "ok: a deep link's tables equal the API's answer; screenshot at {}",
        screenshot.display()
    );
    picker_lists_the_seed(&browser, &open)?;
    println!("ok: the picker lists the seed's brand, organizations and locations");
    default_view_is_the_latest_day(&browser, &open)?;
    println!("ok: without a window the page opens on the latest day with data, in the URL");
    gaps_are_warned(&browser, &open)?;
    println!("ok: a window half without data warns of 50 % coverage; a whole one does not");
    errors_are_words(&browser, &open, &keyed, &key)?;
    println!("ok: 404 and 401 are shown in words; a typed key is used and stays out of the URL");
    a_submit_without_the_script_keeps_the_key_out_of_the_url(&browser, &keyed, &key)?;
    println!("ok: a submit without the script (form.submit()) puts no key in the URL");
    hostile_deep_links_are_refused(&browser, &open)?;
    println!("ok: ids in the URL that are not UUIDs are refused before any fetch");
    Ok(())
}

/// The East Franchise's day by hour: every number in the tables is the API's.
fn deep_link_matches_the_api(browser: &Session, server: &Server, screenshot: &Path) -> Result<()> {
    let view = format!("organization={EAST}&{DAY}&bucket=1h&tz=UTC");
    let page = browser.open_ready(&format!("http://{}/?{view}", server.addr))?;
    let api = get_json(
        server,
        &format!("/v1/insights/organizations/{EAST}/usage?{DAY}&bucket=1h&tz=UTC&demand_interval=15m&top=10"),
    )?;
    let text = page["text"].as_str().unwrap_or_default();
    let organization = api["organization"]["name"].as_str().unwrap_or_default();
    ensure!(
        text.contains(organization),
        "the page does not name {organization}"
    );
    for location in api["locations"].as_array().into_iter().flatten() {
        let name = location["name"].as_str().unwrap_or_default();
        ensure!(
            text.contains(name),
            "the page does not name the location {name}"
        );
    }
    same_number(&page["energy"], &api["usage"]["energy_wh"], "total energy")?;
    same_number(
        &page["peak"],
        &api["usage"]["peak_demand"]["watts"],
        "peak demand",
    )?;
    let rows = page["rows"].as_array().context("no series rows")?;
    let buckets = api["series"]
        .as_array()
        .context("no series in the API's answer")?;
    ensure!(
        rows.len() == buckets.len(),
        "{} table rows for {} buckets",
        rows.len(),
        buckets.len()
    );
    for (row, bucket) in rows.iter().zip(buckets) {
        ensure!(
            row["start"] == bucket["start"],
            "row {row} is not bucket {bucket}"
        );
        same_number(
            &row["total"],
            &bucket["usage"]["energy_wh"],
            "a bucket's energy",
        )?;
    }
    // Each location's column is that location's own answer, bucket by bucket.
    for location in api["locations"].as_array().into_iter().flatten() {
        let name = location["name"].as_str().unwrap_or_default();
        let id = location["id"].as_str().unwrap_or_default();
        let own = get_json(
            server,
            &format!("/v1/insights/locations/{id}/usage?{DAY}&bucket=1h&tz=UTC"),
        )?;
        for (row, bucket) in rows
            .iter()
            .zip(own["series"].as_array().into_iter().flatten())
        {
            same_number(&row["parts"][name], &bucket["usage"]["energy_wh"], name)?;
        }
    }
    let top = page["top"].as_array().context("no top circuits")?;
    let api_top = api["top_circuits"].as_array().context("no top_circuits")?;
    ensure!(top.len() == api_top.len(), "top circuits differ in length");
    for (shown, expected) in top.iter().zip(api_top) {
        same_number(
            shown,
            &expected["usage"]["energy_wh"],
            "a top circuit's energy",
        )?;
    }
    std::fs::write(screenshot, browser.screenshot()?)
        .with_context(|| format!("failed to write {}", screenshot.display()))?;
    Ok(())
}

/// The picker's lists are the API's brand list.
fn picker_lists_the_seed(browser: &Session, server: &Server) -> Result<()> {
    let view = format!("organization={EAST}&{DAY}&bucket=1h&tz=UTC");
    let page = browser.open_ready(&format!("http://{}/?{view}", server.addr))?;
    let options = |id: &str| -> Vec<String> {
        page["options"][id]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|text| text.as_str().map(str::to_owned))
            .collect()
    };
    ensure!(
        options("brand") == ["DemoBrand"],
        "brands: {:?}",
        options("brand")
    );
    let organizations = options("organization");
    for name in ["Central Franchise", "East Franchise", "West Franchise"] {
        ensure!(
            organizations.iter().any(|o| o == name),
            "no {name} in {organizations:?}"
        );
    }
    let locations = options("location");
    // The seed's names use U+2011, a non-breaking hyphen.
    ensure!(
        locations == ["East\u{2011}Boston", "East\u{2011}NYC"],
        "East Franchise's locations: {locations:?}"
    );
    ensure!(
        page["selected"]["organization"] == EAST,
        "the deep link's organization is not selected"
    );
    Ok(())
}

/// `/?brand=…` alone: the page fills the window from the data range and writes it to the URL.
fn default_view_is_the_latest_day(browser: &Session, server: &Server) -> Result<()> {
    let page = browser.open_ready(&format!("http://{}/?brand={BRAND}&tz=UTC", server.addr))?;
    let url = page["url"].as_str().unwrap_or_default();
    ensure!(
        url.contains("start=2024-04-01T00%3A00%3A00Z")
            && url.contains("end=2024-04-02T00%3A00%3A00Z"),
        "the default window is not the shipped data's day: {url}"
    );
    Ok(())
}

/// A window that runs half past the data shows the coverage warning; the data's day does not.
fn gaps_are_warned(browser: &Session, server: &Server) -> Result<()> {
    let half = "start=2024-04-01T12:00:00Z&end=2024-04-02T12:00:00Z";
    let page = browser.open_ready(&format!(
        "http://{}/?organization={EAST}&{half}&bucket=1h&tz=UTC",
        server.addr
    ))?;
    let warning = page["warning"].as_str().unwrap_or_default();
    ensure!(
        warning.contains("Coverage is 50.0 %") && warning.contains("12 of 24 buckets"),
        "the coverage warning reads {warning:?}"
    );
    let page = browser.open_ready(&format!(
        "http://{}/?organization={EAST}&{DAY}&bucket=1h&tz=UTC",
        server.addr
    ))?;
    ensure!(
        page["warning"] == "",
        "a full day warns: {}",
        page["warning"]
    );
    Ok(())
}

/// A missing organization, and a service with keys on, are explained in words.
fn errors_are_words(browser: &Session, open: &Server, keyed: &Server, key: &str) -> Result<()> {
    let missing = "00000000-0000-0000-0000-000000000000";
    let page = browser.open_settled(&format!(
        "http://{}/?organization={missing}&{DAY}&bucket=1h&tz=UTC",
        open.addr
    ))?;
    let error = page["error"].as_str().unwrap_or_default();
    ensure!(
        page["state"] == "error" && error.contains("404") && error.contains("Not found"),
        "a missing organization showed {error:?}"
    );
    let deep = format!(
        "http://{}/?organization={EAST}&{DAY}&bucket=1h&tz=UTC",
        keyed.addr
    );
    let page = browser.open_settled(&deep)?;
    let error = page["error"].as_str().unwrap_or_default();
    ensure!(
        page["state"] == "error" && error.contains("401") && error.contains("API key"),
        "a service with keys on showed {error:?}"
    );
    // The person types the key and presses Show.
    browser.script(
        "document.getElementById('apikey').value = arguments[0];
         document.getElementById('apikey').dispatchEvent(new Event('change'));
         document.getElementById('show').click();",
        json!([key]),
    )?;
    let page = browser.wait_settled()?;
    ensure!(
        page["state"] == "ready",
        "the typed key was not used: {page}"
    );
    let url = page["url"].as_str().unwrap_or_default();
    ensure!(!url.contains(key), "the key is in the URL");
    // A reload in the same tab keeps the key (sessionStorage), not in the URL.
    let page = browser.open_ready(&deep)?;
    ensure!(page["state"] == "ready", "a reload lost the key: {page}");
    Ok(())
}

/// Without the script, pressing Show sends the form as a GET to the page. `form.submit()` does
/// the same, skipping the script's handler; the key field has no name, so the URL the browser
/// navigated to holds the view and not the key. The key is still in the tab (sessionStorage), so
/// the page that loads is ready.
fn a_submit_without_the_script_keeps_the_key_out_of_the_url(
    browser: &Session,
    keyed: &Server,
    key: &str,
) -> Result<()> {
    let deep = format!(
        "http://{}/?organization={EAST}&{DAY}&bucket=1h&tz=UTC",
        keyed.addr
    );
    browser.open_ready(&deep)?;
    browser.script(
        "window.beforeSubmit = true;
         document.getElementById('apikey').value = arguments[0];
         document.getElementById('controls').submit();",
        json!([key]),
    )?;
    let started = Instant::now();
    while browser.script("return window.beforeSubmit === true;", json!([]))? == true {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the form's submit did not load a page within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let page = browser.wait_settled()?;
    let navigated = page["navigated"].as_str().unwrap_or_default();
    ensure!(
        navigated.contains(&format!("organization={EAST}")),
        "the submit did not send the form: {navigated}"
    );
    ensure!(
        !navigated.contains(key) && !navigated.contains("apikey"),
        "a submit without the script put the key in the URL: {navigated}"
    );
    ensure!(page["state"] == "ready", "the submitted view: {page}");
    Ok(())
}

/// A deep link is anyone's to write. Each id in it must be a UUID before a path is built from
/// it; else `..%2F` would point the page's fetches, with the key it holds, at another path.
fn hostile_deep_links_are_refused(browser: &Session, server: &Server) -> Result<()> {
    for target in [
        "sensor=..%2F..%2F..%2Fmetrics%3F",
        "location=..%2F..%2F..%2Fmetrics%23",
        "organization=%2E%2E%2F%2E%2E%2F%2E%2E%2Fmetrics%3F",
        &format!("brand={BRAND}%2F..%2F..%2F..%2Fmetrics%3F"),
    ] {
        let page = browser.open_settled(&format!(
            "http://{}/?{target}&{DAY}&bucket=1h&tz=UTC",
            server.addr
        ))?;
        let fetched: Vec<&str> = page["fetched"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        ensure!(
            fetched.iter().all(|url| !url.contains("metrics")),
            "{target} made the page fetch {fetched:?}"
        );
        let error = page["error"].as_str().unwrap_or_default();
        ensure!(
            page["state"] == "error" && error.contains("is not an id (a UUID)"),
            "{target} showed {error:?}"
        );
    }
    Ok(())
}

fn same_number(shown: &Value, expected: &Value, what: &str) -> Result<()> {
    let shown_number = shown.as_str().and_then(|text| text.parse::<f64>().ok());
    let expected_number = expected.as_f64();
    ensure!(
        shown_number.is_some() && shown_number == expected_number,
        "{what}: the page shows {shown}, the API answers {expected}"
    );
    Ok(())
}

fn get_json(server: &Server, path: &str) -> Result<Value> {
    let text = ureq::get(&format!("http://{}{path}", server.addr))
        .call()
        .with_context(|| format!("GET {path}"))?
        .into_string()?;
    Ok(serde_json::from_str(&text)?)
}

/// What the checks read off the page, in one script run.
const READ_PAGE: &str = r#"
const cells = (row, selector) => Array.from(row.querySelectorAll(selector));
const rows = Array.from(document.querySelectorAll('#series-table tbody tr')).map((row) => {
  const parts = {};
  for (const cell of cells(row, 'td[data-part]')) parts[cell.dataset.part] = cell.dataset.value;
  return { start: row.querySelector('th').dataset.start, total: row.querySelector('td[data-total]').dataset.value, parts };
});
const options = {};
for (const id of ['brand', 'organization', 'location', 'sensor']) {
  options[id] = Array.from(document.getElementById(id).options).filter((o) => o.value).map((o) => o.textContent);
}
const selected = {};
for (const id of ['brand', 'organization', 'location', 'sensor']) selected[id] = document.getElementById(id).value;
const value = (key) => { const dd = document.querySelector(`#summary dd[data-key="${key}"]`); return dd ? dd.dataset.value || null : null; };
return {
  state: document.body.dataset.state,
  url: window.location.href,
  text: document.body.innerText,
  error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
  warning: document.getElementById('coverage-warning').hidden ? '' : document.getElementById('coverage-warning').textContent,
  energy: value('energy'),
  peak: value('peak'),
  rows,
  top: Array.from(document.querySelectorAll('#top-table tbody tr td[data-value]')).map((cell) => cell.dataset.value),
  options,
  selected,
  // What the page fetched, and the URL it was loaded from (which replaceState does not change).
  fetched: performance.getEntriesByType('resource').filter((e) => e.initiatorType === 'fetch').map((e) => e.name),
  navigated: (performance.getEntriesByType('navigation')[0] || {}).name || null,
};
"#;

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
    profile: PathBuf,
}

impl Driver {
    fn start(scratch: &Path) -> Result<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // The page's default zone is the browser's; UTC makes the checks' days fixed.
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start chromedriver")?;
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            profile: scratch.join("profile"),
        };
        let started = Instant::now();
        while ureq::get(&format!("{}/status", driver.base))
            .call()
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("chromedriver did not answer within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }

    fn session(&self) -> Result<Session> {
        let _ = std::fs::remove_dir_all(&self.profile);
        // The flags Chromium needs as root in a sandbox with no internet; without the
        // background-networking ones it keeps dialling Google's hosts.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,2200".to_owned(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let answer = call(&format!("{}/session", self.base), Some(&capabilities))?;
        let id = answer["sessionId"]
            .as_str()
            .context("chromedriver gave no session id")?;
        Ok(Session {
            base: format!("{}/session/{id}", self.base),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser, closed when dropped.
struct Session {
    base: String,
}

impl Session {
    fn script(&self, script: &str, args: Value) -> Result<Value> {
        call(
            &format!("{}/execute/sync", self.base),
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Navigates and waits until the page settles, which must be `ready`.
    fn open_ready(&self, url: &str) -> Result<Value> {
        let page = self.open_settled(url)?;
        ensure!(
            page["state"] == "ready",
            "{url} ended in {}: {}",
            page["state"],
            page["error"]
        );
        Ok(page)
    }

    /// Navigates and waits until the page is `ready` or shows an error.
    fn open_settled(&self, url: &str) -> Result<Value> {
        call(&format!("{}/url", self.base), Some(&json!({ "url": url })))?;
        self.wait_settled()
    }

    fn wait_settled(&self) -> Result<Value> {
        let started = Instant::now();
        loop {
            let page = self.script(READ_PAGE, json!([]))?;
            if page["state"] == "ready" || page["state"] == "error" {
                return Ok(page);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the page did not settle within 30 s: {page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self) -> Result<Vec<u8>> {
        let encoded = ureq::get(&format!("{}/screenshot", self.base))
            .call()?
            .into_string()?;
        let value: Value = serde_json::from_str(&encoded)?;
        let png = value["value"].as_str().context("no screenshot")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(png)?)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.base).call();
    }
}

/// A WebDriver command; its `value`, or the driver's error in words.
fn call(url: &str, body: Option<&Value>) -> Result<Value> {
    let request = ureq::post(url).set("Content-Type", "application/json");
    let response = match request.send_string(&body.map(Value::to_string).unwrap_or_default()) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => return Err(error).with_context(|| format!("POST {url}")),
    };
    let status = response.status();
    let answer: Value = serde_json::from_str(&response.into_string()?)?;
    if status != 200 {
        bail!("WebDriver {url} answered {status}: {}", answer["value"]);
    }
    Ok(answer["value"].clone())
}
