//! A small JSON client of `canhgac serve` for the binary's tests (reqwest on 127.0.0.1).

use std::time::{Duration, Instant};

use serde_json::Value;

/// Calls of one person (one token) on one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(port: u16, token: &str) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            token: token.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// `(status, body as JSON or a JSON string)`.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call("GET", path, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// Posts an action to an incident; 200 (applied) or 202 (published, not yet applied).
    pub async fn act(&self, incident: &str, action: Value) -> Value {
        let path = format!("/api/v1/incidents/{incident}/events");
        let (s, v) = self.call("POST", &path, Some(action.clone())).await;
        assert!(s == 200 || s == 202, "POST {path} {action}: {s} {v}");
        v
    }

    /// Waits until `/readyz` answers.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls `path` until `f` holds of its JSON.
    pub async fn wait_for(
        &self,
        what: &str,
        path: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, v) = self.call("GET", path, None).await;
            if s == 200 && f(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} at {}{path}: last answer {s} {v}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A tokens file of named people: returns (file text, the token of each person).
pub fn tokens(people: &[(&str, &str)]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut out = Vec::new();
    for (name, role) in people {
        let o = super::canhgac()
            .args(["serve", "token", "new", "--role", role, "--name", name])
            .output()
            .unwrap();
        assert!(o.status.success(), "token new: {o:?}");
        let err = String::from_utf8(o.stderr).unwrap();
        let token = err
            .split_whitespace()
            .find(|w| w.starts_with("cg_"))
            .expect("the token on stderr")
            .to_string();
        text.push_str(&String::from_utf8(o.stdout).unwrap());
        out.push(token);
    }
    (text, out)
}
