//! The HTTP client of the soak, stress and scale runs: one keep-alive connection per client,
//! from `ureq`, which reads chunked bodies and reopens a connection the server closed.

use std::io::Read;
use std::time::Duration;

/// A keep-alive HTTP/1.1 client of one service; not shared between threads.
pub(crate) struct Connection {
    base: String,
    agent: ureq::Agent,
    body: Vec<u8>,
    authorization: Option<String>,
}

impl Connection {
    /// A client of the service at `addr` (host:port).
    pub(crate) fn new(addr: &str) -> Connection {
        Connection::build(addr, ureq::AgentBuilder::new())
    }

    /// A client whose every request, reading the answer included, ends within `limit`, so a
    /// load loop that checks its clock between requests stops by itself even if the service
    /// stalls.
    pub(crate) fn bounded(addr: &str, limit: Duration) -> Connection {
        Connection::build(addr, ureq::AgentBuilder::new().timeout(limit))
    }

    fn build(addr: &str, builder: ureq::AgentBuilder) -> Connection {
        let agent = builder
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(60))
            .max_idle_connections_per_host(1)
            // Requests go out in one segment; Nagle's algorithm would add the server's
            // delayed-ACK wait to the client's measurements.
            .no_delay(true)
            .build();
        Connection {
            base: format!("http://{addr}"),
            agent,
            body: Vec::new(),
            authorization: None,
        }
    }

    /// Sends `key` as `Authorization: Bearer <key>` with every request.
    pub(crate) fn with_key(mut self, key: &str) -> Connection {
        self.authorization = Some(format!("Bearer {key}"));
        self
    }

    /// GETs `path` and reads the whole answer; returns its status and whether it carried
    /// `Retry-After`. Any status is an answer; only a failure to talk is an error.
    pub(crate) fn get(&mut self, path: &str) -> std::io::Result<(u16, bool)> {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.set("Authorization", authorization);
        }
        let response = match request.call() {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(error)) => return Err(std::io::Error::other(error)),
        };
        let status = response.status();
        let retry_after = response.header("Retry-After").is_some();
        self.body.clear();
        response.into_reader().read_to_end(&mut self.body)?;
        Ok((status, retry_after))
    }

    /// The body of the last answer.
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    /// GETs `path` and returns its body as text.
    pub(crate) fn get_text(&mut self, path: &str) -> std::io::Result<String> {
        self.get(path)?;
        Ok(String::from_utf8_lossy(&self.body).into_owned())
    }
}
