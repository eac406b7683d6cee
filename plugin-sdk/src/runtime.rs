//! Check declarations, the per-run context with memoized typed evidence, and dispatch.

use crate::bindings::bulwark::plugin::types::{CheckMeta, RunContext};
use crate::daemon::DaemonOptions;
use crate::docker::{
    ContainerInspect, DockerInfo, DockerVersion, HistoryItem, ImageInspect, ImageSummary,
    NetworkSummary, SwarmInspect,
};
use crate::evidence::{Answer, Backend, Query};
use crate::{ContainerRef, ContainerSummary, Finding, QueryError, Status, Subject};
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
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
/// Every accessor asks the evidence [`Backend`] (the host, in a plugin) at most once per
/// plugin run; the result (or the error) is reused by later checks. Each names the query it
/// asked in the finding's provenance, by the same [`Query`] key the host records.
pub struct Ctx {
    audit_start: u64,
    options: Vec<(String, String)>,
    backend: Box<dyn Backend>,
    info: Memo<DockerInfo>,
    version: Memo<DockerVersion>,
    containers: Memo<Vec<ContainerSummary>>,
    daemon: Memo<DaemonOptions>,
    inspects: HashMap<String, Result<Rc<ContainerInspect>, QueryError>>,
    /// Evidence keys used by the check running now (provenance), memo hits included, in
    /// the order first used; `traced` keeps the lookup constant when a check walks a
    /// thousand containers.
    trace: Vec<String>,
    traced: HashSet<String>,
}

fn parse<T: DeserializeOwned>(what: &str, doc: &str) -> Result<T, QueryError> {
    serde_json::from_str(doc)
        .map_err(|e| QueryError::Unavailable(format!("malformed {what} document: {e}")))
}

impl Ctx {
    /// The context of a run, asking `backend` for evidence.
    pub fn new(ctx: RunContext, backend: Box<dyn Backend>) -> Self {
        Ctx {
            audit_start: ctx.audit_start,
            options: ctx.options,
            backend,
            info: None,
            version: None,
            containers: None,
            daemon: None,
            inspects: HashMap::new(),
            trace: Vec::new(),
            traced: HashSet::new(),
        }
    }

    /// Note that the running check used this evidence (see the WIT `finding.evidence`).
    fn used(&mut self, q: &Query) {
        let key = q.key();
        if !self.traced.contains(&key) {
            self.traced.insert(key.clone());
            self.trace.push(key);
        }
    }

    /// Ask one question, noting it for provenance.
    fn ask(&mut self, q: &Query) -> Result<Answer, QueryError> {
        self.used(q);
        self.backend.ask(q)
    }

    /// A JSON document, parsed into `T`.
    fn doc<T: DeserializeOwned>(&mut self, what: &str, q: Query) -> Result<T, QueryError> {
        let doc = self.ask(&q)?.document(&q)?;
        parse(what, &doc)
    }

    /// The provenance keys noted since the last call (the check that just ran).
    pub(crate) fn take_trace(&mut self) -> Vec<String> {
        self.traced.clear();
        std::mem::take(&mut self.trace)
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

    /// A memoized question: the answer in `slot`, or `fetch`ed once and kept there.
    fn memoized<T>(
        &mut self,
        q: Query,
        slot: fn(&mut Ctx) -> &mut Memo<T>,
        fetch: impl FnOnce(&mut Ctx, &Query) -> Result<T, QueryError>,
    ) -> Result<Rc<T>, QueryError> {
        if let Some(hit) = slot(self).clone() {
            self.used(&q);
            return hit;
        }
        let got = fetch(self, &q).map(Rc::new);
        *slot(self) = Some(got.clone());
        got
    }

    pub fn info(&mut self) -> Result<Rc<DockerInfo>, QueryError> {
        self.memoized(
            Query::DockerInfo,
            |c| &mut c.info,
            |c, q| c.doc("docker info", q.clone()),
        )
    }

    pub fn version(&mut self) -> Result<Rc<DockerVersion>, QueryError> {
        self.memoized(
            Query::DockerVersion,
            |c| &mut c.version,
            |c, q| c.doc("docker version", q.clone()),
        )
    }

    /// The containers selected for this audit.
    pub fn containers(&mut self) -> Result<Rc<Vec<ContainerSummary>>, QueryError> {
        self.memoized(
            Query::ContainerList,
            |c| &mut c.containers,
            |c, q| c.ask(q)?.containers(q),
        )
    }

    /// A container as checks read it. The host hands over the typed record it read from
    /// the inspect document (ABI 0.1.3), so the plugin parses no JSON; a test host may
    /// answer with the document itself. Fields the record leaves out are in
    /// [`Ctx::inspect_json`].
    pub fn inspect(&mut self, id: &str) -> Result<Rc<ContainerInspect>, QueryError> {
        let q = Query::Container { id: id.to_string() };
        if let Some(hit) = self.inspects.get(id).cloned() {
            self.used(&q);
            return hit;
        }
        let got = match self.ask(&q) {
            Ok(Answer::Container(r)) => Ok(Rc::new(ContainerInspect::from(*r))),
            Ok(Answer::Document(doc)) => parse("container inspect", &doc).map(Rc::new),
            Ok(_) => Err(QueryError::Unavailable(format!(
                "malformed evidence: {} answered with another kind",
                q.key()
            ))),
            Err(e) => Err(e),
        };
        self.inspects.insert(id.to_string(), got.clone());
        got
    }

    /// A container's whole inspect document (`GET /containers/{id}/json`), unparsed.
    pub fn inspect_json(&mut self, id: &str) -> Result<String, QueryError> {
        self.raw(Query::ContainerInspect { id: id.into() })
    }

    /// The daemon's effective options (command line and the daemon.json it uses). A
    /// daemon.json that does not parse is reported as unavailable evidence.
    pub fn daemon(&mut self) -> Result<Rc<DaemonOptions>, QueryError> {
        self.memoized(
            Query::DaemonConfig,
            |c| &mut c.daemon,
            |c, q| {
                let d = c.ask(q)?.daemon(q)?;
                DaemonOptions::parse(&d).map_err(QueryError::Unavailable)
            },
        )
    }

    /// The configuration file the daemon uses and whether it exists, read without parsing
    /// it: its owner and mode can be judged even when its contents cannot.
    pub fn daemon_config_file(&mut self) -> Result<(String, bool), QueryError> {
        let q = Query::DaemonConfig;
        let d = self.ask(&q)?.daemon(&q)?;
        Ok((d.config_file, d.config_json.is_some()))
    }

    pub fn file_stat(&mut self, path: &str) -> Result<crate::FileInfo, QueryError> {
        let q = Query::FileStat { path: path.into() };
        self.ask(&q)?.file(&q)
    }

    /// Entry names of a directory, sorted.
    pub fn dir_list(&mut self, path: &str) -> Result<Vec<String>, QueryError> {
        let q = Query::DirList { path: path.into() };
        self.ask(&q)?.names(&q)
    }

    /// A file's contents (at most 1 MiB). Needs the `file-contents` grant for the path.
    pub fn file_read(&mut self, path: &str) -> Result<Vec<u8>, QueryError> {
        let q = Query::FileRead { path: path.into() };
        self.ask(&q)?.bytes(&q)
    }

    pub fn container_processes(&mut self, id: &str) -> Result<Vec<crate::ProcessInfo>, QueryError> {
        let q = Query::ContainerProcesses { id: id.into() };
        self.ask(&q)?.processes(&q)
    }

    /// Users in a group (listed members and users whose primary group it is).
    pub fn group_members(&mut self, group: &str) -> Result<Vec<String>, QueryError> {
        let q = Query::GroupMembers {
            group: group.into(),
        };
        self.ask(&q)?.names(&q)
    }

    /// Listening TCP sockets of the host.
    pub fn listeners(&mut self) -> Result<Vec<crate::Listener>, QueryError> {
        let q = Query::Listeners;
        self.ask(&q)?.listeners(&q)
    }

    /// Swarm objects on a manager ("nodes", "services", "secrets") as JSON arrays.
    pub fn swarm_list_json(&mut self, kind: &str) -> Result<String, QueryError> {
        let q = Query::SwarmList { kind: kind.into() };
        self.ask(&q)?.document(&q)
    }

    /// A host process by pid.
    pub fn process(&mut self, pid: u32) -> Result<crate::ProcessInfo, QueryError> {
        let q = Query::Process { pid };
        self.ask(&q)?.process(&q)
    }

    pub fn audit_rules(&mut self) -> Result<crate::AuditRuleSet, QueryError> {
        let q = Query::AuditRules;
        self.ask(&q)?.audit_rules(&q)
    }

    pub fn auditor(&mut self) -> Result<crate::AuditorInfo, QueryError> {
        let q = Query::Auditor;
        self.ask(&q)?.auditor(&q)
    }

    /// How a container's seccomp profile fits what it did while observed (`audit
    /// --observe`); needs the `traces` grant.
    pub fn seccomp_fit(&mut self, id: &str) -> Result<crate::SeccompFit, QueryError> {
        let q = Query::SeccompFit { id: id.into() };
        self.ask(&q)?.seccomp_fit(&q)
    }

    /// What a container did while observed (`audit --observe`); needs the `traces` grant.
    pub fn observed(&mut self, id: &str) -> Result<crate::ObservedProfile, QueryError> {
        let q = Query::ObservedProfile { id: id.into() };
        self.ask(&q)?.observed(&q)
    }

    pub fn auditor_env(&mut self, name: &str) -> Result<Option<String>, QueryError> {
        let q = Query::AuditorEnv { name: name.into() };
        self.ask(&q)?.env(&q)
    }

    /// All images (`GET /images/json`).
    pub fn images(&mut self) -> Result<Vec<ImageSummary>, QueryError> {
        self.doc("image list", Query::ImageList)
    }
    pub fn image(&mut self, name: &str) -> Result<ImageInspect, QueryError> {
        self.doc("image inspect", Query::ImageInspect { name: name.into() })
    }
    pub fn image_history(&mut self, name: &str) -> Result<Vec<HistoryItem>, QueryError> {
        self.doc("image history", Query::ImageHistory { name: name.into() })
    }
    pub fn networks(&mut self) -> Result<Vec<NetworkSummary>, QueryError> {
        self.doc("network list", Query::NetworkList)
    }
    /// The swarm; `not-found` when this node is not a swarm manager.
    pub fn swarm(&mut self) -> Result<SwarmInspect, QueryError> {
        self.doc("swarm", Query::SwarmInspect)
    }

    /// Raw JSON documents, for fields the typed structs do not model.
    pub fn image_list_json(&mut self) -> Result<String, QueryError> {
        self.raw(Query::ImageList)
    }
    pub fn image_inspect_json(&mut self, name: &str) -> Result<String, QueryError> {
        self.raw(Query::ImageInspect { name: name.into() })
    }
    pub fn image_history_json(&mut self, name: &str) -> Result<String, QueryError> {
        self.raw(Query::ImageHistory { name: name.into() })
    }
    pub fn network_list_json(&mut self) -> Result<String, QueryError> {
        self.raw(Query::NetworkList)
    }
    pub fn swarm_inspect_json(&mut self) -> Result<String, QueryError> {
        self.raw(Query::SwarmInspect)
    }

    fn raw(&mut self, q: Query) -> Result<String, QueryError> {
        self.ask(&q)?.document(&q)
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

/// Run the checks `ids` in order against `ctx`: each finding with the evidence it used.
pub(crate) fn run_checks(
    checks: &[Check],
    ctx: &mut Ctx,
    ids: &[String],
) -> Vec<(Finding, Vec<String>)> {
    ids.iter()
        .map(|id| match checks.iter().find(|c| c.meta.id == *id) {
            Some(c) => {
                ctx.take_trace();
                let f = match (c.run)(ctx) {
                    Ok(f) | Err(f) => f,
                };
                (f, ctx.take_trace())
            }
            None => (
                Finding::undecided(format!("this plugin has no check {id}")),
                Vec::new(),
            ),
        })
        .collect()
}

#[doc(hidden)]
pub fn __run(
    checks: &[Check],
    ctx: RunContext,
    ids: Vec<String>,
) -> Vec<crate::bindings::bulwark::plugin::types::Finding> {
    let mut ctx = Ctx::new(ctx, Box::new(crate::evidence::Host));
    run_checks(checks, &mut ctx, &ids)
        .into_iter()
        .zip(&ids)
        .map(|((f, trace), id)| f.into_wit(id, trace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers nothing, and remembers what it was asked.
    struct Recorder(Rc<RefCell<Vec<Query>>>);

    impl Backend for Recorder {
        fn ask(&mut self, q: &Query) -> Result<Answer, QueryError> {
            self.0.borrow_mut().push(q.clone());
            Err(QueryError::Unavailable("recorder".into()))
        }
    }

    /// Every accessor asks exactly the query whose key it names in provenance, so the host
    /// (which keeps only keys of queries it answered) never drops a check's evidence. The
    /// match has no wildcard: a new query kind must be given its accessor here.
    #[test]
    fn every_accessor_names_the_query_it_asks() {
        for q in Query::examples() {
            let asked = Rc::new(RefCell::new(Vec::new()));
            let run = RunContext {
                audit_start: 0,
                options: vec![],
            };
            let mut ctx = Ctx::new(run, Box::new(Recorder(asked.clone())));
            let _ = match &q {
                Query::DockerInfo => ctx.info().map(drop),
                Query::DockerVersion => ctx.version().map(drop),
                Query::ContainerList => ctx.containers().map(drop),
                Query::ContainerInspect { id } => ctx.inspect_json(id).map(drop),
                Query::Container { id } => ctx.inspect(id).map(drop),
                Query::ImageList => ctx.images().map(drop),
                Query::ImageInspect { name } => ctx.image(name).map(drop),
                Query::ImageHistory { name } => ctx.image_history(name).map(drop),
                Query::NetworkList => ctx.networks().map(drop),
                Query::SwarmInspect => ctx.swarm().map(drop),
                Query::SwarmList { kind } => ctx.swarm_list_json(kind).map(drop),
                Query::FileStat { path } => ctx.file_stat(path).map(drop),
                Query::DirList { path } => ctx.dir_list(path).map(drop),
                Query::FileRead { path } => ctx.file_read(path).map(drop),
                Query::ContainerProcesses { id } => ctx.container_processes(id).map(drop),
                Query::Process { pid } => ctx.process(*pid).map(drop),
                Query::AuditRules => ctx.audit_rules().map(drop),
                Query::GroupMembers { group } => ctx.group_members(group).map(drop),
                Query::Listeners => ctx.listeners().map(drop),
                Query::DaemonConfig => ctx.daemon().map(drop),
                Query::Auditor => ctx.auditor().map(drop),
                Query::AuditorEnv { name } => ctx.auditor_env(name).map(drop),
                Query::ObservedProfile { id } => ctx.observed(id).map(drop),
                Query::SeccompFit { id } => ctx.seccomp_fit(id).map(drop),
            };
            assert_eq!(*asked.borrow(), vec![q.clone()]);
            assert_eq!(ctx.take_trace(), vec![q.key()]);
        }
    }

    #[test]
    fn memo_hits_are_named_but_not_asked_again() {
        let asked = Rc::new(RefCell::new(Vec::new()));
        let run = RunContext {
            audit_start: 0,
            options: vec![],
        };
        let mut ctx = Ctx::new(run, Box::new(Recorder(asked.clone())));
        assert!(ctx.info().is_err());
        ctx.take_trace();
        assert!(ctx.info().is_err());
        assert_eq!(asked.borrow().len(), 1);
        assert_eq!(ctx.take_trace(), vec!["docker-info".to_string()]);
    }
}
