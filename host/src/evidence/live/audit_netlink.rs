//! The kernel's loaded audit rules over NETLINK_AUDIT (AUDIT_LIST_RULES), listed in
//! `auditctl -l`'s words, for where there is no auditctl: Bulwark's image. The kernel
//! answers a process in the initial user and PID namespaces with CAP_AUDIT_CONTROL —
//! Docker Bench's `--userns host --pid host --cap-add audit_control`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_AUDIT: i32 = 9;
const AUDIT_LIST_RULES: u16 = 1013;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_HDRLEN: usize = 16;
/// `struct audit_rule_data` up to its string buffer: flags, action, field_count; mask,
/// fields, values and fieldflags of 64 words each; buflen.
const RULE_HEADER: usize = 4 * 3 + 4 * 64 * 4 + 4;
const MAX_FIELDS: usize = 64;

// Field ids (linux/audit.h).
const AUDIT_ARCH: u32 = 11;
const AUDIT_WATCH: u32 = 105;
const AUDIT_PERM: u32 = 106;
const AUDIT_DIR: u32 = 107;
const AUDIT_EXE: u32 = 112;
const AUDIT_FILTERKEY: u32 = 210;

/// Fields whose value is a string in the rule's buffer (its length in `values`).
fn is_string(field: u32) -> bool {
    matches!(field, 13..=17 | 19..=23 | AUDIT_WATCH | AUDIT_DIR | AUDIT_EXE | AUDIT_FILTERKEY)
}

/// The loaded rules, one `auditctl -l`-style line each.
pub fn list_rules() -> io::Result<Vec<String>> {
    let sock = open()?;
    send(&sock, AUDIT_LIST_RULES, &[])?;
    let mut rules = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = receive(&sock, &mut buf)?;
        if messages(&buf[..n], &mut rules)? {
            return Ok(rules);
        }
    }
}

/// A NETLINK_AUDIT socket whose reads time out (a kernel that never answers must not hang
/// the audit).
fn open() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: a valid timeval for SO_RCVTIMEO on our own socket.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// One request to the kernel, acknowledged.
fn send(sock: &OwnedFd, kind: u16, payload: &[u8]) -> io::Result<()> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&(len as u32).to_ne_bytes());
    req.extend_from_slice(&kind.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(payload);
    // SAFETY: an all-zero sockaddr_nl is valid; pid 0 names the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: the buffer and the address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn receive(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The netlink messages in one datagram: rules into `rules`; true at the end of the list.
fn messages(mut b: &[u8], rules: &mut Vec<String>) -> io::Result<bool> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed netlink message");
    while b.len() >= NLMSG_HDRLEN {
        let len = u32_at(b, 0).ok_or_else(bad)? as usize;
        let kind = u16_at(b, 4).ok_or_else(bad)?;
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(bad());
        }
        let payload = &b[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = u32_at(payload, 0).ok_or_else(bad)? as i32;
                if code != 0 {
                    return Err(io::Error::from_raw_os_error(
                        code.checked_neg().unwrap_or(0),
                    ));
                }
            }
            AUDIT_LIST_RULES => rules.push(rule_line(payload).ok_or_else(bad)?),
            _ => {}
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    Ok(false)
}

/// One `struct audit_rule_data` in auditctl's words: `-w PATH -p PERMS -k KEY` for a file
/// watch, else `-a ACTION,LIST` with its fields as `-F name=value`.
pub(crate) fn rule_line(d: &[u8]) -> Option<String> {
    let word = |i: usize| u32_at(d, i * 4);
    let (flags, action, count) = (word(0)?, word(1)?, word(2)? as usize);
    if count > MAX_FIELDS {
        return None;
    }
    let (fields_at, values_at) = (3 + 64, 3 + 64 * 2);
    let buflen = word(3 + 64 * 4)? as usize;
    let strings = d.get(RULE_HEADER..RULE_HEADER.checked_add(buflen)?)?;
    let mut used = 0usize;
    let mut parts: Vec<(u32, String)> = Vec::with_capacity(count);
    for i in 0..count {
        let field = word(fields_at + i)?;
        let value = word(values_at + i)?;
        let text = if is_string(field) {
            let end = used.checked_add(value as usize)?;
            let s = String::from_utf8_lossy(strings.get(used..end)?).into_owned();
            used = end;
            s
        } else {
            value.to_string()
        };
        parts.push((field, text));
    }
    let only_watch = parts
        .iter()
        .all(|(f, _)| matches!(*f, AUDIT_WATCH | AUDIT_DIR | AUDIT_PERM | AUDIT_FILTERKEY));
    let watched = parts
        .iter()
        .find(|(f, _)| matches!(*f, AUDIT_WATCH | AUDIT_DIR));
    // The `-w` form says "always audit at syscall exit": only such a rule may be shown so
    // (a `never` rule on the same path turns auditing of it off).
    let always_at_exit = action == 2 && flags & 0x07 == 4;
    if let (true, true, Some((_, path))) = (always_at_exit, only_watch, watched) {
        let mut line = format!("-w {path}");
        for (f, v) in &parts {
            match *f {
                AUDIT_PERM => line.push_str(&format!(" -p {}", perms(v.parse().ok()?))),
                AUDIT_FILTERKEY => line.push_str(&format!(" -k {v}")),
                _ => {}
            }
        }
        return Some(line);
    }
    let list = match flags & 0x07 {
        0 => "user",
        1 => "task",
        4 => "exit",
        5 => "exclude",
        6 => "filesystem",
        7 => "io_uring,exit",
        _ => "unknown",
    };
    let act = match action {
        2 => "always",
        1 => "possible",
        _ => "never",
    };
    let mut line = format!("-a {act},{list}");
    for (f, v) in &parts {
        let name = match *f {
            AUDIT_ARCH => "arch".to_string(),
            AUDIT_WATCH => "path".to_string(),
            AUDIT_DIR => "dir".to_string(),
            AUDIT_EXE => "exe".to_string(),
            AUDIT_PERM => {
                line.push_str(&format!(" -F perm={}", perms(v.parse().ok()?)));
                continue;
            }
            AUDIT_FILTERKEY => "key".to_string(),
            other => format!("field{other}"),
        };
        line.push_str(&format!(" -F {name}={v}"));
    }
    Some(line)
}

/// AUDIT_PERM bits (exec 1, write 2, read 4, attr 8) as auditctl's letters.
fn perms(bits: u32) -> String {
    [(4, 'r'), (2, 'w'), (1, 'x'), (8, 'a')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule as the kernel encodes it: (field, numeric value or string) pairs.
    fn encode(flags: u32, action: u32, fields: &[(u32, Result<u32, &str>)]) -> Vec<u8> {
        let mut words = vec![0u32; 3 + 64 * 4 + 1];
        words[0] = flags;
        words[1] = action;
        words[2] = fields.len() as u32;
        let mut buf = Vec::new();
        for (i, (f, v)) in fields.iter().enumerate() {
            words[3 + 64 + i] = *f;
            words[3 + 128 + i] = match v {
                Ok(n) => *n,
                Err(s) => {
                    buf.extend_from_slice(s.as_bytes());
                    s.len() as u32
                }
            };
        }
        words[3 + 256] = buf.len() as u32;
        let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        out.extend_from_slice(&buf);
        out
    }

    #[test]
    fn watches_and_syscall_rules_read_as_auditctl_lists_them() {
        let watch = encode(
            4,
            2,
            &[
                (AUDIT_WATCH, Err("/usr/bin/dockerd")),
                (AUDIT_PERM, Ok(15)),
                (AUDIT_FILTERKEY, Err("docker")),
            ],
        );
        assert_eq!(
            rule_line(&watch).as_deref(),
            Some("-w /usr/bin/dockerd -p rwxa -k docker")
        );
        // A rule that turns auditing of the path off is no watch of it.
        let never = encode(4, 0, &[(AUDIT_WATCH, Err("/usr/bin/dockerd"))]);
        assert_eq!(
            rule_line(&never).as_deref(),
            Some("-a never,exit -F path=/usr/bin/dockerd")
        );
        let exit = encode(
            4,
            2,
            &[
                (AUDIT_ARCH, Ok(0xc000003e)),
                (AUDIT_DIR, Err("/var/lib/docker")),
                (AUDIT_PERM, Ok(2)),
            ],
        );
        assert_eq!(
            rule_line(&exit).as_deref(),
            Some("-a always,exit -F arch=3221225534 -F dir=/var/lib/docker -F perm=w")
        );
        // Lengths past the buffer, or too many fields: refused, not read out of bounds.
        let mut short = watch.clone();
        short.truncate(watch.len() - 3);
        assert_eq!(rule_line(&short), None);
        let mut many = watch;
        many[8..12].copy_from_slice(&65u32.to_ne_bytes());
        assert_eq!(rule_line(&many), None);
    }

    /// Adds a watch rule to the real kernel (as root), lists it back in auditctl's words,
    /// and removes it.
    #[test]
    fn the_kernel_lists_a_rule_added_to_it() {
        const AUDIT_ADD_RULE: u16 = 1011;
        const AUDIT_DEL_RULE: u16 = 1012;
        const AUDIT_EQUAL: u32 = 0x4000_0000;
        let path = format!("/tmp/bulwark-netlink-test-{}", std::process::id());
        let mut rule = encode(
            4,
            2,
            &[
                (AUDIT_WATCH, Err(path.as_str())),
                (AUDIT_PERM, Ok(2 | 8)),
                (AUDIT_FILTERKEY, Err("bulwark-test")),
            ],
        );
        // Every syscall, and `=` for each field, as auditctl -w asks.
        for w in 0..64 {
            rule[(3 + w) * 4..(4 + w) * 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        }
        for i in 0..3 {
            let at = (3 + 64 * 3 + i) * 4;
            rule[at..at + 4].copy_from_slice(&AUDIT_EQUAL.to_ne_bytes());
        }
        let acked = |kind| -> io::Result<()> {
            let sock = open()?;
            send(&sock, kind, &rule)?;
            let mut buf = vec![0u8; 4096];
            let n = receive(&sock, &mut buf)?;
            messages(&buf[..n], &mut Vec::new()).map(drop)
        };
        acked(AUDIT_ADD_RULE).expect("root adds an audit rule");
        let listed = list_rules();
        acked(AUDIT_DEL_RULE).expect("and removes it");
        let want = format!("-w {path} -p wa -k bulwark-test");
        let listed = listed.expect("the kernel lists its rules");
        assert!(listed.contains(&want), "{want} in {listed:#?}");
        assert!(!list_rules().expect("listed again").contains(&want));
    }

    #[test]
    fn an_error_reply_is_an_error_and_done_ends_the_list() {
        let mut msg = vec![0u8; 20];
        msg[0..4].copy_from_slice(&20u32.to_ne_bytes());
        msg[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        let e = messages(&msg, &mut Vec::new()).expect_err("EPERM");
        assert_eq!(e.raw_os_error(), Some(1));
        let mut done = vec![0u8; 16];
        done[0..4].copy_from_slice(&16u32.to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert!(messages(&done, &mut Vec::new()).unwrap());
        assert!(messages(&[1, 2, 3], &mut Vec::new()).is_ok());
    }
}
