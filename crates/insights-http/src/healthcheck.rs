//! `insights-http healthcheck`: asks the running service's `/healthz` over loopback, so a
//! container healthcheck needs no curl or wget in a slim image.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the probe waits to connect, and then for the answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the probe failed.
#[derive(Debug)]
pub enum ProbeError {
    /// No connection, or no whole status line within the timeout.
    Io(std::io::Error),
    /// The service answered, but not `200`.
    Status(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Io(error) => write!(f, "no answer from /healthz: {error}"),
            ProbeError::Status(line) => write!(f, "/healthz answered {line:?}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// The address a probe on this host connects to for a service listening on `listen`: an
/// unspecified address (`0.0.0.0`, `::`) is reached over loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `GET /healthz` on `addr`; `Ok` only for a `200`.
pub fn probe(addr: SocketAddr) -> Result<(), ProbeError> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).map_err(ProbeError::Io)?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(PROBE_TIMEOUT)))
        .map_err(ProbeError::Io)?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(ProbeError::Io)?;
    // The status line is all the probe needs; it is far shorter than this.
    let mut head = [0_u8; 64];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        match stream.read(&mut head[read..]).map_err(ProbeError::Io)? {
            0 => break,
            n => read += n,
        }
    }
    let text = String::from_utf8_lossy(&head[..read]);
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    if status_line.starts_with("HTTP/1.1 200 ") || status_line.starts_with("HTTP/1.0 200 ") {
        Ok(())
    } else {
        Err(ProbeError::Status(status_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(listen: &str, expected: &str) {
        assert_eq!(
            probe_addr(listen.parse().unwrap()),
            expected.parse().unwrap()
        );
    }

    #[test]
    fn unspecified_addresses_are_probed_over_loopback() {
        check("0.0.0.0:8080", "127.0.0.1:8080");
        check("[::]:8080", "[::1]:8080");
        check("10.1.2.3:80", "10.1.2.3:80");
        check("127.0.0.1:9", "127.0.0.1:9");
    }

    #[test]
    fn a_closed_port_fails_the_probe() {
        // Bind, learn the port, and close it: nothing listens there now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(probe(addr), Err(ProbeError::Io(_))));
    }
}
