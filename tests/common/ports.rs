//! External servers on free 127.0.0.1 ports, without racing the other tests for them.
//!
//! A port found free can be taken by another test before the server binds it; the server then
//! fails to start while a connection to "its" port still succeeds (to the other listener). So
//! a server counts as started only once the kernel shows the listening socket in its own
//! process, and one that exits first is started again on new ports.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `count` distinct ports that were free a moment ago.
pub fn free_ports(count: usize) -> Vec<u16> {
    // Held together, so that the kernel hands out distinct ports.
    let listeners: Vec<_> = (0..count).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// The inodes of the sockets listening on `port` (IPv4 or IPv6), from `/proc/net/tcp*`.
fn listening_inodes(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is field 9.
            let listens_here = fields.get(1).and_then(|a| a.rsplit(':').next()) == Some(&format!("{port:04X}"))
                && fields.get(3) == Some(&"0A");
            if listens_here && let Some(inode) = fields.get(9) {
                inodes.push((*inode).to_owned());
            }
        }
    }
    inodes
}

/// Whether process `pid` holds a socket listening on `port`.
pub fn listens(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.to_string_lossy() == format!("socket:[{i}]")))
    })
}

/// Starts `what` with `command(ports)` on `count` free ports and waits (up to `wait`) until it
/// listens on all of them; started again on other ports if it exits first (its port taken).
pub fn spawn_listening(
    what: &str,
    count: usize,
    wait: Duration,
    command: impl Fn(&[u16]) -> Command,
) -> (Child, Vec<u16>) {
    for _attempt in 0..5 {
        let ports = free_ports(count);
        let mut child = command(&ports).spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let deadline = Instant::now() + wait;
        loop {
            if child.try_wait().ok().flatten().is_some() {
                break; // exited: most likely lost a port to another test; try others
            }
            if ports.iter().all(|p| listens(child.id(), *p)) {
                return (child, ports);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not listen on ports {ports:?} within {wait:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{what} exited at start five times (is another one holding its ports?)")
}
