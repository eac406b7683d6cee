//! Check declarations, the per-run context with memoized typed evidence, and dispatch.

use crate::bindings::bulwark::plugin::evidence as ev;
use crate::bindings::bulwark::plugin::types::{CheckMeta, RunContext};
use crate::daemon::DaemonOptions;
use crate::docker::{
    ContainerInspect, DockerInfo, DockerVersion, HistoryItem, ImageInspect, ImageSummary,
    NetworkSummary, SwarmInspect,
};
use crate::{ContainerRef, ContainerSummary, Finding, QueryError, Status, Subject};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::rc::Rc;

/// What a check function returns. `Err` is an early verdict (usually `undecided`), so a
/// check can use `?` on evidence queries: a failed query becomes an undecided finding.
pub type Verdict = Result<Finding, Finding>;

/// One check: its metadata and the function that decides it.
#[derive(Clone)]
pub struct Check {
    meta: CheckMeta,
    run: fn(&mut Ctx) -> Verdict,
}

impl Check {
    /// A check with CIS level 1, not scored, manual. Refine with the builder methods.
    pub fn new(id: &str, title: &str, run: fn(&mut Ctx) -> Verdict) -> Self {
        Check {
            meta: CheckMeta {
                id: id.to_string(),
                title: title.to_string(),
                section: id.split('.').next().unwrap_or(id).to_string(),
                section_title: String::new(),
                level: 1,
                scored: false,
                automated: false,
                description: String::new(),
                remediation: String::new(),
                remediation_impact: String::new(),
                tags: Vec::new(),
            },
            run,
        }
    }
    pub fn section(mut self, id: &str, title: &str) -> Self {
        self.meta.section = id.to_string();
        self.meta.section_title = title.to_string();
        self
    }
    pub fn level(mut self, level: u8) -> Self {
        self.meta.level = level;
        self
    }
    pub fn scored(mut self) -> Self {
        self.meta.scored = true;
        self
    }
    pub fn automated(mut self) -> Self {
        self.meta.automated = true;
        self
    }
    pub fn description(mut self, text: &str) -> Self {
        self.meta.description = text.to_string();
        self
    }
    pub fn remediation(mut self, text: &str) -> Self {
        self.meta.remediation = text.to_string();
        self
    }
    pub fn impact(mut self, text: &str) -> Self {
        self.meta.remediation_impact = text.to_string();
        self
    }
    pub fn tag(mut self, tag: &str) -> Self {
        self.meta.tags.push(tag.to_string());
        self
    }
    pub fn id(&self) -> &str {
        &self.meta.id
    }
}

type Memo<T> = Option<Result<Rc<T>, QueryError>>;

/// What a check sees: the operator's options and typed, memoized evidence.
///
/// Every accessor goes through the host's evidence interface once per plugin run; the
/// result (or the error) is reused by later checks.
pub struct Ctx {
    audit_start: u64,
    options: Vec<(String, String)>,
    info: Memo<DockerInfo>,
    version: Memo<DockerVersion>,
    containers: Memo<Vec<ContainerSummary>>,
    daemon: Memo<DaemonOptions>,
    inspects: HashMap<String, Result<Rc<ContainerInspect>, QueryError>>,
    /// Evidence keys used by the check running now (provenance), memo hits included.
    trace: Vec<String>,
}

fn parse<T: DeserializeOwned>(
    what: &str,
    doc: Result<String, QueryError>,
) -> Result<T, QueryError> {
    let doc = doc?;
    serde_json::from_str(&doc)
        .map_err(|e| QueryError::Unavailable(format!("malformed {what} document: {e}")))
}

fn memo<T>(
    slot: &mut Memo<T>,
    fetch: impl FnOnce() -> Result<T, QueryError>,
) -> Result<Rc<T>, QueryError> {
    slot.get_or_insert_with(|| fetch().map(Rc::new)).clone()
}

impl Ctx {
    pub fn new(ctx: RunContext) -> Self {
        Ctx {
            audit_start: ctx.audit_start,
            options: ctx.options,
            info: None,
            version: None,
            containers: None,
            daemon: None,
            inspects: HashMap::new(),
            trace: Vec::new(),
        }
    }

    /// Note that the running check used this evidence (see the WIT `finding.evidence`).
    fn used(&mut self, kind: &str, arg: Option<&str>) {
        let key = match arg {
            Some(a) => format!("{kind}:{a}"),
            None => kind.to_string(),
        };
        if !self.trace.contains(&key) {
            self.trace.push(key);
        }
    }

    /// Unix time at which the audit started (the plugin's only clock).
    pub fn audit_start(&self) -> u64 {
        self.audit_start
    }

    /// An operator option for this run.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn info(&mut self) -> Result<Rc<DockerInfo>, QueryError> {
        self.used("docker-info", None);
        memo(&mut self.info, || parse("docker info", ev::docker_info()))
    }

    pub fn version(&mut self) -> Result<Rc<DockerVersion>, QueryError> {
        self.used("docker-version", None);
        memo(&mut self.version, || {
            parse("docker version", ev::docker_version())
        })
    }

    /// The containers selected for this audit.
    pub fn containers(&mut self) -> Result<Rc<Vec<ContainerSummary>>, QueryError> {
        self.used("container-list", None);
        memo(&mut self.containers, ev::containers)
    }

    pub fn inspect(&mut self, id: &str) -> Result<Rc<ContainerInspect>, QueryError> {
        self.used("container-inspect", Some(id));
        self.inspects
            .entry(id.to_string())
            .or_insert_with(|| parse("container inspect", ev::container_inspect(id)).map(Rc::new))
            .clone()
    }

    /// The daemon's effective options (command line and the daemon.json it uses). A
    /// daemon.json that does not parse is reported as unavailable evidence.
    pub fn daemon(&mut self) -> Result<Rc<DaemonOptions>, QueryError> {
        self.used("daemon-config", None);
        memo(&mut self.daemon, || {
            DaemonOptions::parse(&ev::daemon_config()?).map_err(QueryError::Unavailable)
        })
    }

    pub fn file_stat(&mut self, path: &str) -> Result<crate::FileInfo, QueryError> {
        self.used("file-stat", Some(path));
        ev::file_stat(path)
    }

    /// Entry names of a directory, sorted.
    pub fn dir_list(&mut self, path: &str) -> Result<Vec<String>, QueryError> {
        self.used("dir-list", Some(path));
        ev::dir_list(path)
    }

    /// A file's contents (at most 1 MiB). Needs the `file-contents` grant for the path.
    pub fn file_read(&mut self, path: &str) -> Result<Vec<u8>, QueryError> {
        self.used("file-read", Some(path));
        ev::file_read(path)
    }

    pub fn container_processes(&mut self, id: &str) -> Result<Vec<crate::ProcessInfo>, QueryError> {
        self.used("container-processes", Some(id));
        ev::container_processes(id)
    }

    /// Users in a group (listed members and users whose primary group it is).
    pub fn group_members(&mut self, group: &str) -> Result<Vec<String>, QueryError> {
        self.used("group-members", Some(group));
        ev::group_members(group)
    }

    /// Listening TCP sockets of the host.
    pub fn listeners(&mut self) -> Result<Vec<crate::Listener>, QueryError> {
        self.used("listeners", None);
        ev::listeners()
    }

    /// Swarm objects on a manager ("nodes", "services", "secrets") as JSON arrays.
    pub fn swarm_list_json(&mut self, kind: &str) -> Result<String, QueryError> {
        self.used("swarm-list", Some(kind));
        ev::swarm_list(kind)
    }

    /// A host process by pid.
    pub fn process(&mut self, pid: u32) -> Result<crate::ProcessInfo, QueryError> {
        self.used("process", Some(&pid.to_string()));
        ev::process(pid)
    }

    pub fn audit_rules(&mut self) -> Result<crate::AuditRuleSet, QueryError> {
        self.used("audit-rules", None);
        ev::audit_rules()
    }

    pub fn auditor(&mut self) -> Result<crate::AuditorInfo, QueryError> {
        self.used("auditor", None);
        ev::auditor()
    }

    /// What a container did while observed (`audit --observe`); needs the `traces` grant.
    pub fn observed(&mut self, id: &str) -> Result<crate::ObservedProfile, QueryError> {
        self.used("observed-profile", Some(id));
        ev::observation(id)
    }

    pub fn auditor_env(&mut self, name: &str) -> Result<Option<String>, QueryError> {
        self.used("auditor-env", Some(name));
        ev::auditor_env(name)
    }

    /// All images (`GET /images/json`).
    pub fn images(&mut self) -> Result<Vec<ImageSummary>, QueryError> {
        self.used("image-list", None);
        parse("image list", ev::image_list())
    }
    pub fn image(&mut self, name: &str) -> Result<ImageInspect, QueryError> {
        self.used("image-inspect", Some(name));
        parse("image inspect", ev::image_inspect(name))
    }
    pub fn image_history(&mut self, name: &str) -> Result<Vec<HistoryItem>, QueryError> {
        self.used("image-history", Some(name));
        parse("image history", ev::image_history(name))
    }
    pub fn networks(&mut self) -> Result<Vec<NetworkSummary>, QueryError> {
        self.used("network-list", None);
        parse("network list", ev::network_list())
    }
    /// The swarm; `not-found` when this node is not a swarm manager.
    pub fn swarm(&mut self) -> Result<SwarmInspect, QueryError> {
        self.used("swarm-inspect", None);
        parse("swarm", ev::swarm_inspect())
    }

    /// Raw JSON documents, for fields the typed structs do not model.
    pub fn image_list_json(&mut self) -> Result<String, QueryError> {
        self.used("image-list", None);
        ev::image_list()
    }
    pub fn image_inspect_json(&mut self, name: &str) -> Result<String, QueryError> {
        self.used("image-inspect", Some(name));
        ev::image_inspect(name)
    }
    pub fn image_history_json(&mut self, name: &str) -> Result<String, QueryError> {
        self.used("image-history", Some(name));
        ev::image_history(name)
    }
    pub fn network_list_json(&mut self) -> Result<String, QueryError> {
        self.used("network-list", None);
        ev::network_list()
    }
    pub fn swarm_inspect_json(&mut self) -> Result<String, QueryError> {
        self.used("swarm-inspect", None);
        ev::swarm_inspect()
    }

    /// The per-image counterpart of [`Ctx::each_container_as`]: `judge` returns `Some(why)`
    /// for an offending image, which gets `offence`; none makes a PASS. An image removed
    /// during the audit is not judged; any other evidence error makes the check undecided.
    pub fn each_image(
        &mut self,
        offence: Status,
        mut judge: impl FnMut(&mut Ctx, &ImageSummary) -> Result<Option<String>, QueryError>,
    ) -> Finding {
        let images = match self.images() {
            Ok(i) => i,
            Err(e) => return Finding::from_error("the image list", &e),
        };
        if images.is_empty() {
            return Finding::skipped("no images selected for this audit");
        }
        let mut f = Finding::pass(format!("{} images checked", images.len()));
        let mut offenders = 0;
        for img in &images {
            match judge(self, img) {
                Ok(Some(why)) => {
                    offenders += 1;
                    let name = img.display_name();
                    f = f
                        .detail(format!("{name}: {why}"))
                        .subject(Subject::Image(name));
                }
                Ok(None) | Err(QueryError::NotFound(_)) => {}
                Err(e) => return Finding::from_error(&img.display_name(), &e),
            }
        }
        if offenders > 0 {
            f.status = offence;
            f.message = format!("{offenders} of {} images", images.len());
        }
        f
    }

    /// The usual shape of a per-container check: `judge` returns `Some(why)` for an
    /// offending container. Offenders make a WARN naming each of them; none makes a PASS.
    pub fn each_container(
        &mut self,
        judge: impl FnMut(&mut Ctx, &ContainerInspect) -> Result<Option<String>, QueryError>,
    ) -> Finding {
        self.each_container_as(Status::Warn, judge)
    }

    /// [`Ctx::each_container`] with another status for offenders (INFO for manual checks).
    ///
    /// A container that vanished mid-audit is noted and left out. Any other evidence
    /// error makes the check undecided unless an offender was already found.
    pub fn each_container_as(
        &mut self,
        offence: Status,
        mut judge: impl FnMut(&mut Ctx, &ContainerInspect) -> Result<Option<String>, QueryError>,
    ) -> Finding {
        let containers = match self.containers() {
            Ok(c) => c,
            Err(e) => return Finding::from_error("the container list", &e),
        };
        if containers.is_empty() {
            return Finding::skipped("no containers selected for this audit");
        }
        let mut offenders: Vec<(ContainerRef, String)> = Vec::new();
        let mut vanished = Vec::new();
        let mut errors = Vec::new();
        let mut judged = 0usize;
        for c in containers.iter() {
            // A container can vanish between the list and any later question about it.
            let verdict = self.inspect(&c.id).and_then(|i| judge(self, &i));
            match verdict {
                Ok(Some(why)) => offenders.push((
                    ContainerRef {
                        id: c.id.clone(),
                        name: c.name.clone(),
                    },
                    why,
                )),
                Ok(None) => {}
                Err(QueryError::NotFound(_)) => {
                    vanished.push(c.name.clone());
                    continue;
                }
                Err(e) => {
                    errors.push(format!("{}: {}", c.name, e.text()));
                    continue;
                }
            }
            judged += 1;
        }
        let mut f = if !offenders.is_empty() {
            let mut f = Finding::new(
                offence,
                format!(
                    "{} of {} containers",
                    offenders.len(),
                    judged + errors.len()
                ),
            );
            for (r, why) in offenders {
                f = f
                    .detail(format!("{}: {why}", r.name))
                    .subject(Subject::Container(r));
            }
            f
        } else if !errors.is_empty() {
            let mut f = Finding::undecided(format!(
                "could not read {} of {} containers",
                errors.len(),
                judged + errors.len()
            ));
            for e in &errors {
                f = f.detail(e.clone());
            }
            return f;
        } else if judged == 0 {
            Finding::skipped("every selected container vanished during the audit")
        } else {
            Finding::pass(format!("{judged} containers checked"))
        };
        for e in errors {
            f = f.detail(format!("not checked: {e}"));
        }
        for v in vanished {
            f = f.detail(format!("{v}: vanished during the audit, not checked"));
        }
        f
    }
}

#[doc(hidden)]
pub fn __describe(checks: &[Check]) -> Vec<CheckMeta> {
    checks.iter().map(|c| c.meta.clone()).collect()
}

#[doc(hidden)]
pub fn __run(
    checks: &[Check],
    ctx: RunContext,
    ids: Vec<String>,
) -> Vec<crate::bindings::bulwark::plugin::types::Finding> {
    let mut ctx = Ctx::new(ctx);
    ids.iter()
        .map(|id| match checks.iter().find(|c| c.meta.id == *id) {
            Some(c) => {
                ctx.trace.clear();
                let f = match (c.run)(&mut ctx) {
                    Ok(f) | Err(f) => f,
                };
                f.into_wit(id, std::mem::take(&mut ctx.trace))
            }
            None => Finding::undecided(format!("this plugin has no check {id}"))
                .into_wit(id, Vec::new()),
        })
        .collect()
}
