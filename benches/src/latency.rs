//! A path to the PostgreSQL server with added network latency, set up and torn down by the
//! benchmark itself, so a figure reflects a database on another host.
//!
//! First choice, [`Netem`]: a network namespace joined to this one by a veth pair whose
//! host end delays every packet it sends with `tc qdisc ... netem delay` (1 ms: each round
//! trip between a client in the namespace and the server gets 1 ms longer). The client runs in
//! the namespace (the benchmark runs itself again there, through `ip netns exec`) and reaches the
//! server through a [`Proxy`] listening on the veth's host address, which forwards to the server's
//! own address, so the server needs no `listen_addresses` or `pg_hba.conf` change. This needs
//! root, `ip`, `tc` and the kernel's `sch_netem`.
//!
//! When that set-up is not possible, [`Netem::set_up`] says why, and the benchmark can emulate
//! the latency in user space instead: a [`Proxy`] on loopback that holds every chunk the client
//! sends for the delay before passing it on (one direction only, so a round trip gets the delay
//! once), the other direction at once. The benchmark prints which one it measured.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A TCP forwarder to `upstream`, delaying what clients send by `delay`; runs until the process
/// ends.
pub struct Proxy {
    addr: SocketAddr,
}

impl Proxy {
    /// Listens on `bind` (port 0: any free port) and forwards each connection to `upstream`.
    pub fn start(bind: &str, upstream: SocketAddr, delay: Duration) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    pump(c, s, delay);
                    pump(server, client, Duration::ZERO);
                }
            }
        });
        Ok(Proxy { addr })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Copies `from` to `to`, each chunk `delay` after it arrived (a delay line: throughput is
/// kept, only time is added).
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (sender, receiver) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            if sender
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (due, bytes) in receiver {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// How [`with_latency`] added the latency to the path it measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Through a network namespace whose veth delays packets with netem ([`Netem`]).
    Netem,
    /// Through a [`Proxy`] on loopback delaying what the client sends (netem was impossible).
    Proxy,
}

/// Runs `suite` with 1 ms added to every round trip to the server of `url`, passing it the URL
/// to use (the same database, through the delayed path) and how the delay was added.
///
/// First choice, netem: this program is started again inside a [`Netem`] namespace, with
/// `child_var` set to the delayed URL, and must then call [`run_child`] with the same
/// `child_var` and `suite` first thing (before creating anything the parent already holds);
/// this process waits for it. When netem cannot be set up, it says why (a `LATENCY` line) and
/// runs `suite` here, through a delaying [`Proxy`] on loopback.
pub fn with_latency(url: &str, child_var: &str, suite: impl FnOnce(&str, Added)) {
    let server = server_addr(url).expect("a host:port in the database URL");
    match Netem::set_up("1ms") {
        Ok(netem) => {
            let bind = format!("{}:0", netem.host_ip());
            let proxy = Proxy::start(&bind, server, Duration::ZERO).expect("a proxy on the veth");
            let exe = std::env::current_exe().expect("this program's path");
            let status = netem
                .command(&exe)
                .env(child_var, via(url, proxy.addr()))
                .status()
                .expect("run the client in the namespace");
            assert!(status.success(), "the client in the namespace failed");
        }
        Err(why) => {
            println!("LATENCY netem set-up impossible here ({why}); emulating 1 ms per round trip with a delaying proxy in user space instead");
            let proxy = Proxy::start("127.0.0.1:0", server, Duration::from_millis(1))
                .expect("a proxy on loopback");
            suite(&via(url, proxy.addr()), Added::Proxy);
        }
    }
}

/// In the program [`with_latency`] started inside the namespace (`child_var` is set): runs
/// `suite` with the delayed URL and returns `true`; elsewhere returns `false` at once.
pub fn run_child(child_var: &str, suite: impl FnOnce(&str, Added)) -> bool {
    match std::env::var(child_var) {
        Ok(url) => {
            suite(&url, Added::Netem);
            true
        }
        Err(_) => false,
    }
}

/// The `host:port` of a `postgres://user@host:port/db?...` URL, resolved.
pub fn server_addr(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    host_port.to_socket_addrs().ok()?.next()
}

/// `url` with its `host:port` replaced by `addr`.
pub fn via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(u, _)| format!("{u}@"));
    format!("{scheme}://{user}{addr}{tail}")
}

/// A network namespace whose veth pair delays packets with netem; deleted on drop.
pub struct Netem {
    namespace: String,
    host_if: String,
    host_ip: String,
}

impl Netem {
    /// Creates the namespace and the veth pair, and delays the host end's packets by `delay`
    /// (as `tc` writes it, `1ms`). `Err` says which step failed and why.
    pub fn set_up(delay: &str) -> Result<Netem, String> {
        let id = std::process::id();
        let namespace = format!("sdbench{id}");
        let (host_if, ns_if) = (
            format!("sdb{}h", id % 100_000),
            format!("sdb{}n", id % 100_000),
        );
        let net = format!("10.213.{}", id % 250);
        let host_ip = format!("{net}.1");
        let netem = Netem {
            namespace: namespace.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.clone(),
        };
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", namespace.as_str(), "ip"];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        run("ip", &["netns", "add", &namespace])?;
        run(
            "ip",
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
        )?;
        run("ip", &["link", "set", &ns_if, "netns", &namespace])?;
        run(
            "ip",
            &["addr", "add", &format!("{host_ip}/30"), "dev", &host_if],
        )?;
        run("ip", &["link", "set", &host_if, "up"])?;
        in_ns(&["addr", "add", &format!("{net}.2/30"), "dev", &ns_if])?;
        in_ns(&["link", "set", &ns_if, "up"])?;
        in_ns(&["link", "set", "lo", "up"])?;
        run(
            "tc",
            &[
                "qdisc", "add", "dev", &host_if, "root", "netem", "delay", delay,
            ],
        )?;
        Ok(netem)
    }

    /// The host end's address, where a proxy for the namespace's clients listens.
    pub fn host_ip(&self) -> &str {
        &self.host_ip
    }

    /// `program args...` run inside the namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace])
            .arg(program);
        command
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair and the qdisc; the
        // pair is deleted by name too, for a set-up that failed before moving one end.
        let _ = run("ip", &["netns", "del", &self.namespace]);
        let _ = run("ip", &["link", "del", &self.host_if]);
    }
}

/// Runs `program args`; `Err` with its output when it fails or cannot start.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("`{program} {}`: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_pointed_at_another_address() {
        let addr: SocketAddr = "10.213.7.1:40000".parse().unwrap();
        assert_eq!(
            via(
                "postgres://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dx",
                addr
            ),
            "postgres://postgres@10.213.7.1:40000/test?options=-csearch_path%3Dx"
        );
        assert_eq!(
            server_addr("postgres://postgres@127.0.0.1:5432/test"),
            Some("127.0.0.1:5432".parse().unwrap())
        );
    }
}
