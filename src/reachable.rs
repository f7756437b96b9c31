//! Ready means reachable: whether a new server accepts TCP connections on its SSH port.
//!
//! The panel connects to `root@<server>:22` the moment `order_status` says `finished`, and
//! fails the task for good when it cannot; hosters call a server "running" well before its
//! SSH daemon listens. One short connection attempt per poll (no retry loop: the panel polls
//! again) tells the two apart. Nothing is sent on the connection.
//!
//! A name is resolved here and nowhere else, and every address it resolves to must itself be a
//! new server's ([`extract::is_usable_ip`]): a name that resolves to this machine (or to a
//! placeholder) is not ready, whatever answers on its port.

use crate::extract;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a server is not reachable yet, in words for the task's record.
pub type NotYet = String;

/// Connects to `server:port`, trying each address the name resolves to, each for at most
/// `timeout`. Loopback addresses count only for a hoster on this machine (`hoster_is_local`).
pub fn ssh_port_open(
    server: &str,
    port: u16,
    timeout: Duration,
    hoster_is_local: bool,
) -> Result<(), NotYet> {
    let addresses: Vec<SocketAddr> = match server.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (server, port)
            .to_socket_addrs()
            .map_err(|e| format!("`{server}` does not resolve yet ({e})"))?
            .collect(),
    };
    if let Some(bad) = addresses
        .iter()
        .find(|a| !extract::is_usable_ip(a.ip(), hoster_is_local))
    {
        return Err(format!(
            "`{server}` resolves to {}, which is not a new server's address",
            bad.ip()
        ));
    }
    let mut last = format!("`{server}` has no address yet");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = format!("port {port} of {server} does not accept connections yet ({e})")
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn an_open_port_is_reachable_and_a_closed_one_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let timeout = Duration::from_secs(2);
        assert_eq!(ssh_port_open("127.0.0.1", port, timeout, true), Ok(()));
        drop(listener);
        let closed = ssh_port_open("127.0.0.1", port, timeout, true).unwrap_err();
        assert!(closed.contains("does not accept connections"), "{closed}");
    }

    /// `localhost` is the one name resolved here: `/etc/hosts` answers it, no DNS server.
    #[test]
    fn a_name_that_resolves_to_this_machine_is_not_a_new_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let timeout = Duration::from_secs(2);
        let refused = ssh_port_open("localhost", port, timeout, false).unwrap_err();
        assert!(
            refused.contains("`localhost` resolves to") && refused.contains("not a new server's"),
            "{refused}"
        );
        // A hoster on this machine may hand out servers on this machine, as before.
        assert_eq!(ssh_port_open("localhost", port, timeout, true), Ok(()));
    }
}
