//! CIS Docker Benchmark 1.6.0, section 7 (Docker Swarm configuration) and Docker Bench's
//! section 8 (Docker Enterprise), which applies only to enterprise engines.

use bulwark_sdk::prelude::*;
use serde_json::Value;

fn s7(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Check {
    Check::new(id, title, run)
        .section("7", "Docker Swarm Configuration")
        .tag("cis-docker-1.6.0")
        .tag("swarm")
}

/// Swarm checks apply only on an active swarm node.
fn require_swarm(ctx: &mut Ctx) -> Result<(), Finding> {
    if ctx.info()?.swarm_active() {
        Ok(())
    } else if ctx.engine().is_ok_and(|e| e.is_podman()) {
        Err(Finding::skipped("Podman: it has no swarm mode"))
    } else {
        Err(Finding::skipped("swarm mode is not enabled"))
    }
}

/// The swarm spec; managers only.
fn spec(ctx: &mut Ctx) -> Result<Value, Finding> {
    require_swarm(ctx)?;
    match ctx.swarm() {
        Ok(s) => Ok(s.spec),
        Err(QueryError::NotFound(_)) => Err(Finding::skipped("this node is not a swarm manager")),
        Err(e) => Err(e.into()),
    }
}

fn c7_1(ctx: &mut Ctx) -> Verdict {
    require_swarm(ctx)?;
    let text = ctx.swarm_list_json("nodes")?;
    let nodes: Vec<Value> = serde_json::from_str(&text)
        .map_err(|e| Finding::undecided(format!("malformed node list: {e}")))?;
    let managers = nodes
        .iter()
        .filter(|n| n["Spec"]["Role"] == "manager")
        .count();
    // Raft needs an odd number of managers to gain fault tolerance; more than 7 only slows it.
    if managers % 2 == 1 && managers <= 7 {
        Ok(Finding::pass(format!(
            "{managers} manager nodes of {}",
            nodes.len()
        )))
    } else {
        Ok(
            Finding::warn(format!("{managers} manager nodes of {}", nodes.len()))
                .detail(format!("{managers} managers: use an odd number, at most 7")),
        )
    }
}

/// The swarm management port of this node: the port it is reached at as a manager
/// (`--advertise-addr`, which follows `--listen-addr`), else Docker's default 2377.
fn management_port(ctx: &mut Ctx) -> Result<u16, Finding> {
    let info = ctx.info()?;
    let own = info
        .swarm
        .remote_managers
        .iter()
        .find(|m| m.node_id == info.swarm.node_id)
        .and_then(|m| m.addr.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok());
    Ok(own.unwrap_or(2377))
}

fn c7_2(ctx: &mut Ctx) -> Verdict {
    require_swarm(ctx)?;
    let port = management_port(ctx)?;
    let open: Vec<String> = ctx
        .listeners()?
        .into_iter()
        .filter(|l| l.port == port && (l.address == "0.0.0.0" || l.address == "::"))
        .map(|l| format!("{}:{}", l.address, l.port))
        .collect();
    if open.is_empty() {
        return Ok(Finding::pass(
            "the swarm management port is bound to a specific interface",
        ));
    }
    Ok(
        Finding::warn("the swarm management port listens on every interface")
            .detail(open.join(", ")),
    )
}

fn c7_3(ctx: &mut Ctx) -> Verdict {
    require_swarm(ctx)?;
    let nets = ctx.networks()?;
    let plain: Vec<String> = nets
        .iter()
        .filter(|n| {
            n.driver == "overlay" && n.name != "ingress" && !n.options.contains_key("encrypted")
        })
        .map(|n| n.name.clone())
        .collect();
    Ok(Finding::pass_or_warn_list(
        plain,
        "every overlay network is encrypted",
        |n| format!("{n} unencrypted overlay networks"),
        "unencrypted overlay network",
    ))
}

fn c7_4(ctx: &mut Ctx) -> Verdict {
    require_swarm(ctx)?;
    let secrets: Vec<Value> = serde_json::from_str(&ctx.swarm_list_json("secrets")?)
        .map_err(|e| Finding::undecided(format!("malformed secret list: {e}")))?;
    if secrets.is_empty() {
        Ok(Finding::info("no swarm secrets are in use"))
    } else {
        Ok(Finding::pass(format!("{} swarm secrets", secrets.len())))
    }
}

fn c7_5(ctx: &mut Ctx) -> Verdict {
    let spec = spec(ctx)?;
    if spec["EncryptionConfig"]["AutoLockManagers"] == true {
        Ok(Finding::pass("managers are auto-locked"))
    } else {
        Ok(Finding::warn("swarm managers are not auto-locked"))
    }
}

fn c7_7(ctx: &mut Ctx) -> Verdict {
    let spec = spec(ctx)?;
    let ns = spec["CAConfig"]["NodeCertExpiry"].as_i64().unwrap_or(0);
    let days = ns as f64 / 86_400e9;
    // 90 days is Docker's default; a shorter expiry shows rotation was considered.
    if ns > 0 && days < 90.0 {
        Ok(Finding::pass(format!(
            "node certificates expire after {days:.1} days"
        )))
    } else {
        Ok(Finding::info(format!(
            "node certificates expire after {days:.1} days (the default)"
        )))
    }
}

fn c7_8(ctx: &mut Ctx) -> Verdict {
    spec(ctx)?;
    Ok(Finding::info(
        "manual check: rotate the swarm CA certificate as appropriate (docker swarm ca --rotate)",
    ))
}

fn c7_9(ctx: &mut Ctx) -> Verdict {
    require_swarm(ctx)?;
    Ok(Finding::info(
        "manual check: separate management and data traffic (--data-path-addr)",
    ))
}

/// Docker Enterprise (Mirantis) engines only; community and distribution builds skip §8.
fn require_enterprise(ctx: &mut Ctx) -> Result<(), Finding> {
    let v = ctx.version()?;
    let platform = v.platform.name.to_lowercase();
    let enterprise = platform.contains("enterprise")
        || platform.contains("mirantis")
        || v.version.contains("-ee");
    if enterprise {
        Ok(())
    } else {
        Err(Finding::skipped(format!(
            "not a Docker Enterprise engine ({})",
            if v.platform.name.is_empty() {
                v.version.clone()
            } else {
                v.platform.name.clone()
            }
        )))
    }
}

fn enterprise_note(ctx: &mut Ctx) -> Verdict {
    require_enterprise(ctx)?;
    Ok(Finding::note("manual check on Docker Enterprise"))
}

fn s8(id: &str, title: &str, section: &str) -> Check {
    Check::new(id, title, enterprise_note)
        .section(
            section,
            if section == "8.1" {
                "Universal Control Plane Configuration"
            } else {
                "Docker Trusted Registry Configuration"
            },
        )
        .tag("docker-enterprise")
}

bulwark_sdk::plugin! {
    s7("7.1", "Ensure that the minimum number of manager nodes have been created in a swarm", c7_1)
        .automated().scored()
        .remediation("Run an odd number of managers (at most 7); demote the rest."),
    s7("7.2", "Ensure that swarm services are bound to a specific host interface", c7_2)
        .automated().scored()
        .remediation("docker swarm init --listen-addr <specific address>"),
    s7("7.3", "Ensure that all Docker swarm overlay networks are encrypted", c7_3)
        .automated().scored()
        .remediation("docker network create -d overlay --opt encrypted ..."),
    s7("7.4", "Ensure that Docker's secret management commands are used for managing secrets in a swarm cluster", c7_4)
        .remediation("Use docker secret to hand secrets to services."),
    s7("7.5", "Ensure that swarm manager is run in auto-lock mode", c7_5)
        .automated().scored()
        .remediation("docker swarm update --autolock=true"),
    s7("7.6", "Ensure that the swarm manager auto-lock key is rotated periodically", |ctx| { require_swarm(ctx)?; Ok(Finding::note("manual check: rotate the unlock key (docker swarm unlock-key --rotate)")) })
        .remediation("docker swarm unlock-key --rotate"),
    s7("7.7", "Ensure that node certificates are rotated as appropriate", c7_7)
        .remediation("docker swarm update --cert-expiry <duration>"),
    s7("7.8", "Ensure that CA certificates are rotated as appropriate", c7_8)
        .remediation("docker swarm ca --rotate"),
    s7("7.9", "Ensure that management plane traffic is separated from data plane traffic", c7_9)
        .remediation("docker swarm init --advertise-addr <mgmt> --data-path-addr <data>"),
    s8("8.1.1", "Configure the LDAP authentication service", "8.1").automated(),
    s8("8.1.2", "Use external certificates", "8.1").automated(),
    s8("8.1.3", "Enforce the use of client certificate bundles for unprivileged users", "8.1"),
    s8("8.1.4", "Configure applicable cluster role-based access control policies", "8.1"),
    s8("8.1.5", "Enable signed image enforcement", "8.1").automated(),
    s8("8.1.6", "Set the Per-User Session Limit to a value of '3' or lower", "8.1").automated(),
    s8("8.1.7", "Set the 'Lifetime Minutes' and 'Renewal Threshold Minutes' values to '15' or lower and '0' respectively", "8.1").automated(),
    s8("8.2.1", "Enable image vulnerability scanning", "8.2").automated(),
}
