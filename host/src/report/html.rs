//! One self-contained HTML file: no network, no external assets. The report's JSON is
//! embedded as data and rendered by a small script that only ever sets `textContent`, so
//! nothing in a container name or message can become markup. Filters (status, section,
//! text) can be preset from the URL fragment: `report.html#status=warn&q=web`.

use crate::findings::Report;

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d232a;background:#fafbfc}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .5em}
.meta{color:#5a6570}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d8dde2;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef1f4}
.st{font-weight:600;white-space:nowrap}
.pass{color:#17803d}.warn{color:#b42318}.info{color:#1d4ed8}.note{color:#a15c07}
.undecided{color:#a15c07}.skipped{color:#5a6570}.error{color:#b42318}.suppressed{opacity:.6}
.filters{display:flex;gap:1em;margin:.6em 0;flex-wrap:wrap}
ul{margin:0;padding-left:1.2em}
"#;

const SCRIPT: &str = r#"
(function(){
const data = JSON.parse(document.getElementById('bulwark-data').textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; };
const order = ['pass','warn','info','note','undecided','skipped','error'];
const statusOf = (f) => f.suppression ? 'suppressed' : f.status;
const subjectName = (s) => s.kind === 'container' ? s.name : s.kind === 'image' ? s.name : s.kind === 'file' ? s.path : s.kind === 'plugin' ? s.name : s.kind;

$('meta').textContent = 'Bulwark ' + data.version + ' \u00b7 ' + data.benchmark.title + ' \u00b7 ' + data.evidence + ' evidence \u00b7 started ' +
  new Date(data.audit_start * 1000).toISOString() + ' \u00b7 ' + data.findings.length + ' findings' +
  (data.engine ? ' \u00b7 ' + data.engine.name + ' ' + data.engine.version + (data.engine.rootless ? ' (rootless)' : ' (root)') +
    ' at ' + data.engine.endpoint + (data.engine.remote ? ' (remote)' : '') : '');

// Summary: sections x statuses.
const sections = [];
for (const f of data.findings) {
  let s = sections.find((x) => x.id === f.check.section);
  if (!s) { s = {id: f.check.section, title: f.check.section_title, counts: {}}; sections.push(s); }
  const k = statusOf(f); s.counts[k] = (s.counts[k] || 0) + 1;
}
const cols = order.concat(['suppressed']);
const sh = $('summary');
const hr = el('tr'); hr.appendChild(el('th', 'Section'));
for (const c of cols) hr.appendChild(el('th', c.toUpperCase(), c));
sh.appendChild(hr);
const total = {};
for (const s of sections) {
  const tr = el('tr'); tr.className = 'section-row'; tr.dataset.section = s.id;
  tr.appendChild(el('td', s.id + ' ' + s.title));
  for (const c of cols) { tr.appendChild(el('td', s.counts[c] || '', c)); total[c] = (total[c] || 0) + (s.counts[c] || 0); }
  sh.appendChild(tr);
}
const tt = el('tr'); tt.appendChild(el('th', 'Total'));
for (const c of cols) tt.appendChild(el('th', total[c] || 0, c));
tt.id = 'summary-total'; sh.appendChild(tt);

// Filters.
const fs = $('f-status'), fsec = $('f-section'), fq = $('f-q');
fs.appendChild(el('option', 'all statuses')).value = '';
for (const c of cols) fs.appendChild(el('option', c)).value = c;
fsec.appendChild(el('option', 'all sections')).value = '';
for (const s of sections) fsec.appendChild(el('option', s.id + ' ' + s.title)).value = s.id;

// Findings table.
const body = $('findings');
const rows = [];
for (const f of data.findings) {
  const tr = el('tr'); tr.className = 'finding'; const st = statusOf(f);
  tr.dataset.status = st; tr.dataset.section = f.check.section;
  tr.appendChild(el('td', f.check.id));
  tr.appendChild(el('td', st.toUpperCase(), 'st ' + st));
  tr.appendChild(el('td', f.check.title));
  const subj = el('td'); if (f.subjects.length) { const ul = el('ul'); for (const s of f.subjects) ul.appendChild(el('li', s.kind + ': ' + subjectName(s), 'subject')); subj.appendChild(ul); } tr.appendChild(subj);
  const msg = el('td'); msg.appendChild(el('div', f.reason || f.message));
  if (f.details.length) { const ul = el('ul'); for (const d of f.details) ul.appendChild(el('li', d)); msg.appendChild(ul); }
  if (f.suppression) msg.appendChild(el('div', 'suppressed: ' + (f.suppression.reason || f.suppression.source), 'suppressed'));
  if (f.check.doc && st !== 'pass') {
    const d = el('details', undefined, 'doc'); d.appendChild(el('summary', 'What it means and how to fix it'));
    for (const [k, label] of [['what', 'What it verifies'], ['why', 'Why it matters'], ['decides', 'How Bulwark decides'], ['remediation', 'Remediation'], ['example', 'Example'], ['impact', 'Impact']]) {
      d.appendChild(el('h4', label)); d.appendChild(el(k === 'example' ? 'pre' : 'p', f.check.doc[k]));
    }
    msg.appendChild(d);
  }
  tr.appendChild(msg);
  tr._text = JSON.stringify([f.check.id, f.check.title, f.message, f.reason, f.details, f.subjects]).toLowerCase();
  body.appendChild(tr); rows.push(tr);
}
function apply() {
  const s = fs.value, sec = fsec.value, q = fq.value.toLowerCase();
  let shown = 0;
  for (const tr of rows) {
    const ok = (!s || tr.dataset.status === s) && (!sec || tr.dataset.section === sec) && (!q || tr._text.includes(q));
    tr.hidden = !ok; if (ok) shown++;
  }
  $('shown').textContent = shown + ' of ' + rows.length + ' findings shown';
}
fs.onchange = fsec.onchange = fq.oninput = apply;
const params = new URLSearchParams(location.hash.slice(1));
if (params.get('status')) fs.value = params.get('status');
if (params.get('section')) fsec.value = params.get('section');
if (params.get('q')) fq.value = params.get('q');
apply();

// Per-container view.
const byC = new Map();
for (const f of data.findings) for (const s of f.subjects) if (s.kind === 'container') {
  if (!byC.has(s.name)) byC.set(s.name, {id: s.id, list: []});
  byC.get(s.name).list.push(f);
}
const cv = $('containers');
if (byC.size === 0) cv.appendChild(el('p', 'No finding names a container.'));
for (const [name, c] of [...byC.entries()].sort()) {
  const sec = el('section'); sec.className = 'container'; sec.dataset.name = name;
  sec.appendChild(el('h3', name)); sec.appendChild(el('div', c.id.slice(0, 12), 'meta'));
  const ul = el('ul');
  for (const f of c.list) { const li = el('li'); li.appendChild(el('span', statusOf(f).toUpperCase() + ' ', 'st ' + statusOf(f))); li.appendChild(document.createTextNode(f.check.id + ' ' + f.check.title)); ul.appendChild(li); }
  sec.appendChild(ul); cv.appendChild(sec);
}
document.body.dataset.ready = 'yes';
})();
"#;

/// Embed JSON in a `<script>` element: `</script>` and `<!--` must not appear in it.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

pub fn html(report: &Report) -> Result<String, serde_json::Error> {
    let data = script_safe(&super::json(report)?);
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Bulwark audit</title><style>{STYLE}</style></head>
<body>
<h1>Bulwark audit</h1><div class="meta" id="meta"></div>
<h2>Summary</h2><table id="summary"></table>
<h2>Findings</h2>
<div class="filters"><label>Status <select id="f-status"></select></label>
<label>Section <select id="f-section"></select></label>
<label>Search <input id="f-q" type="search"></label><span id="shown" class="meta"></span></div>
<table><thead><tr><th>Id</th><th>Status</th><th>Check</th><th>Subjects</th><th>Details</th></tr></thead>
<tbody id="findings"></tbody></table>
<h2>Containers</h2><div id="containers"></div>
<script type="application/json" id="bulwark-data">{data}</script>
<script>{SCRIPT}</script>
</body></html>
"#
    ))
}
