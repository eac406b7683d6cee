//! Daemons reached over the network: a private dockerd on TCP with TLS (certificates made
//! here with openssl), audited over TLS, through a Docker CLI context, and refused with a
//! clear error for a wrong CA, a missing client certificate and plain HTTP. Host checks are
//! UNDECIDED: the evidence Bulwark can read is its own machine's, not the daemon's.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (cargo xtask test installs it)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, and a certificate it signs for `cn` with `ext` (an openssl extension file's text).
fn ca(dir: &Path, name: &str) {
    openssl(dir, &["genrsa", "-out", &format!("{name}-key.pem"), "2048"]);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}-key.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn signed(dir: &Path, ca_name: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(dir, &["genrsa", "-out", &format!("{name}-key.pem"), "2048"]);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}-key.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca_name}.pem"),
            "-CAkey",
            &format!("{ca_name}-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// An address of this machine that is not loopback (the daemon then counts as remote).
fn outside_address() -> String {
    let o = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.contains(" bwt"))
        .find_map(|l| {
            let addr = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
            Some(addr.split('/').next()?.to_string())
        })
        .expect("a non-loopback IPv4 address")
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn audit(args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = bulwark();
    cmd.args(["audit", "-q", "-f", "json", "-c", "1.1.1,2.2,3.1,5.4"]);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn audits_over_tls_and_contexts_and_says_what_it_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let ip = outside_address();
    ca(p, "ca");
    ca(p, "other-ca");
    let server_ext =
        format!("subjectAltName = IP:{ip}, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n");
    signed(p, "ca", "server", &server_ext);
    signed(p, "ca", "client", "extendedKeyUsage = clientAuth\n");
    let port = free_loopback_addr().rsplit(':').next().unwrap().to_string();
    let f = |n: &str| p.join(n).display().to_string();
    let d = TestDaemon::start(
        &[
            "--iptables=false",
            "-H",
            &format!("tcp://0.0.0.0:{port}"),
            "--tlsverify",
            "--tlscacert",
            &f("ca.pem"),
            "--tlscert",
            &f("server.pem"),
            "--tlskey",
            &f("server-key.pem"),
        ],
        None,
    );
    d.run_container("admin", &["--cap-add", "SYS_ADMIN"], &[]);
    let url = format!("tcp://{ip}:{port}");
    let tls = |ca: &str, cert: &str| {
        vec![
            "-H".to_string(),
            url.clone(),
            "--tlsverify".into(),
            "--tlscacert".into(),
            f(ca),
            "--tlscert".into(),
            f(cert),
            "--tlskey".into(),
            f("client-key.pem"),
        ]
    };

    // Over TLS: the Engine API's evidence judges containers; the host's is not the
    // daemon's, so host checks cannot decide.
    let args = tls("ca.pem", "client.pem");
    let o = audit(&refs(&args), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(status(&r, "5.4"), "warn");
    // The report names the engine and how it was reached.
    let e = &r["engine"];
    assert_eq!(e["name"], "Docker Engine");
    assert_eq!(
        (e["endpoint"].as_str(), e["via"].as_str()),
        (Some(url.as_str()), Some("-H"))
    );
    assert_eq!(
        (e["remote"].as_bool(), e["rootless"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        e["api_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{e}"
    );
    assert!(offenders(&r, "5.4").contains("admin"));
    for id in ["1.1.1", "2.2", "3.1"] {
        assert_eq!(status(&r, id), "undecided", "{id}: {:#}", finding(&r, id));
        let why = finding(&r, id)["reason"].to_string();
        assert!(
            why.contains("auditor's host, not the daemon's"),
            "{id}: {why}"
        );
    }

    // Clear errors: a CA that did not sign the daemon's certificate, a client certificate
    // that is not there, and plain HTTP on the TLS port.
    let args = tls("other-ca.pem", "client.pem");
    let o = audit(&refs(&args), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&url) && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    let args = tls("ca.pem", "missing.pem");
    let o = audit(&refs(&args), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing.pem") && err.contains("does not exist"),
        "{err}"
    );
    let o = audit(&["-H", &url], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("HTTPS"), "plain HTTP on a TLS port: {err}");

    // A Docker CLI context selects the endpoint and its TLS material.
    let config = p.join("docker-config");
    let name = "remote-tls";
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(name.as_bytes()))
    };
    let meta: PathBuf = config.join("contexts/meta").join(&digest);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": url, "SkipTLSVerify": false}}
        })
        .to_string(),
    )
    .unwrap();
    let tls_dir = config.join("contexts/tls").join(&digest).join("docker");
    std::fs::create_dir_all(&tls_dir).unwrap();
    for (from, to) in [
        ("ca.pem", "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ] {
        std::fs::copy(p.join(from), tls_dir.join(to)).unwrap();
    }
    let o = audit(&["--context", name], &[("DOCKER_CONFIG", &config)]);
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert!(offenders(&r, "5.4").contains("admin"));
    assert_eq!(r["engine"]["via"], "context remote-tls");
    let o = audit(&["--context", "nonexistent"], &[("DOCKER_CONFIG", &config)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("context \"nonexistent\""));
}
