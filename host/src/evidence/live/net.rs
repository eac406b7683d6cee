//! Listening TCP sockets of the host, from /proc/net/tcp and tcp6.

use super::super::EvidenceError;
use super::files::io_error;
use crate::abi::ev;

/// Listening TCP sockets from /proc/net/tcp and tcp6 (state 0A). In a container, the
/// host's: PID 1's network namespace (with `--pid host`), which needs no `--net host`.
pub(super) fn listeners() -> Result<Vec<ev::Listener>, EvidenceError> {
    let mut out = Vec::new();
    let dir =
        match super::hostview::view() {
            super::hostview::View::Native => "/proc/net",
            super::hostview::View::Container(b) if b.host_pid => "/proc/1/net",
            // PID 1 is the container's own: its sockets are not the host's.
            super::hostview::View::Container(_) => return Err(EvidenceError::Unavailable(
                "the host's listening sockets are not visible from a container without --pid host"
                    .to_string(),
            )),
        };
    for proto in ["tcp", "tcp6"] {
        let file = format!("{dir}/{proto}");
        let file = file.as_str();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(file.to_string(), e)),
        };
        out.extend(listening_in(proto, &text));
    }
    out.sort_by(|a, b| (a.port, &a.address).cmp(&(b.port, &b.address)));
    out.dedup_by(|a, b| a.port == b.port && a.address == b.address && a.proto == b.proto);
    Ok(out)
}

/// The listening sockets (state 0A) of one /proc/net/tcp or tcp6 table, in its order.
pub(crate) fn listening_in(proto: &str, text: &str) -> Vec<ev::Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(3) != Some(&"0A") {
            continue;
        }
        if let Some((addr, port)) = f.get(1).and_then(|a| parse_proc_addr(a)) {
            out.push(ev::Listener {
                proto: proto.to_string(),
                address: addr,
                port,
            });
        }
    }
    out
}

/// "0100007F:0CEA" → ("127.0.0.1", 3306); IPv6 addresses are four little-endian words.
pub(crate) fn parse_proc_addr(s: &str) -> Option<(String, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let text = match addr.len() {
        8 => std::net::Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.swap_bytes()).to_string(),
        32 => {
            let mut bytes = [0u8; 16];
            for w in 0..4 {
                // `get`: 32 bytes of text need not be 32 characters (no slicing inside one).
                let word = u32::from_str_radix(addr.get(w * 8..w * 8 + 8)?, 16)
                    .ok()?
                    .swap_bytes();
                bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_be_bytes());
            }
            std::net::Ipv6Addr::from(bytes).to_string()
        }
        _ => return None,
    };
    Some((text, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(
            parse_proc_addr("0100007F:0CEA"),
            Some(("127.0.0.1".to_string(), 3306))
        );
        assert_eq!(
            parse_proc_addr("00000000:0949"),
            Some(("0.0.0.0".to_string(), 2377))
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000000000000:0050"),
            Some(("::".to_string(), 80))
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:0050"),
            Some(("::1".to_string(), 80))
        );
        // 32 bytes that are not 32 characters: refused, not a panic.
        assert_eq!(parse_proc_addr(&format!("{}:0050", "é".repeat(16))), None);
        assert_eq!(
            parse_proc_addr(&format!("0{}:0050", "é".repeat(15) + "0")),
            None
        );
    }
}
