#!/usr/bin/env node
// Cedar side of the custos policy-decision benchmark.
//
//   node bench/policy/js/cedar_decide.js SCENARIO.json DECISIONS.out [--full-entities]
//
// Reads a scenario (datasets, principals, grants, residency rules, events) written by the
// C++ benchmark, translates the grants and residency rules into an equivalent Cedar policy
// set (one `permit` per grant, one `forbid` per residency rule), decides every event with
// @cedar-policy/cedar-wasm and writes one line per event (`allow` or `deny`, in event order)
// to DECISIONS.out, for the C++ side to compare with custos's own decisions.
//
// The policy set is parsed once (preparsePolicySet) and each event is decided with
// statefulIsAuthorized, the fastest API this cedar-wasm offers. It takes the entities with
// every call, so they are prebuilt once per principal and dataset and each request passes
// only its own slice (the User, its Groups, the Dataset: all these policies can read);
// --full-entities passes all of them with every call instead (slower).
// Only the decision loop is timed, after an untimed warm-up on the first WARMUP events.
// Stdout gets exactly one summary line:
//   cedar: <N> decisions in <secs> s = <rate> decisions/s (cedar-wasm <version>)
// Bad input, or any Cedar parse or evaluation error, ends the run with exit status 1.
// Dependencies: `npm ci` in this directory (scripts/bootstrap.sh does it).
'use strict';
const fs = require('fs');
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const ACTIONS = ['read', 'write', 'create', 'delete', 'rename', 'list'];
const POLICY_SET_ID = 'custos-bench';
const WARMUP = 200;   // events decided once, untimed, before the timed loop

function die(msg) {
  process.stderr.write(`cedar_decide: ${msg}\n`);
  process.exit(1);
}
const isStr = (v) => typeof v === 'string';
const isInt = (v) => Number.isSafeInteger(v);
function need(cond, what) { if (!cond) die(`bad scenario: ${what}`); }
function strList(v, what) { need(Array.isArray(v) && v.every(isStr), `${what} must be an array of strings`); return v; }
function errText(errors) { return (errors || []).map((e) => e.message + (e.help ? ` (${e.help})` : '')).join('; '); }

// Cedar string literal: escape \ and ", and write control characters as \u{..}.
const lit = (s) => '"' + s.replace(/[\\"]/g, '\\$&').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`) + '"';
const uid = (type, id) => `${type}::${lit(id)}`;
const set = (items) => `[${items.join(', ')}]`;

function loadScenario(path) {
  let sc;
  try { sc = JSON.parse(fs.readFileSync(path, 'utf8')); } catch (e) { die(`cannot read scenario ${path}: ${e.message}`); }
  need(sc && typeof sc === 'object', 'top level must be an object');
  for (const k of ['datasets', 'principals', 'grants', 'residency', 'events']) need(Array.isArray(sc[k]), `"${k}" must be an array`);
  sc.datasets.forEach((d, i) => need(d && isStr(d.id) && isStr(d.classification) && isStr(d.home), `datasets[${i}] needs string id, classification, home`));
  sc.principals.forEach((p, i) => { need(p && isStr(p.id), `principals[${i}].id must be a string`); strList(p.groups, `principals[${i}].groups`); });
  sc.grants.forEach((g, i) => {
    need(g && typeof g === 'object', `grants[${i}] must be an object`);
    need(g.id === undefined || isStr(g.id), `grants[${i}].id must be a string`);
    for (const k of ['principals', 'groups', 'actions', 'datasets', 'regions']) strList(g[k], `grants[${i}].${k}`);
    g.actions.forEach((a) => need(ACTIONS.includes(a), `grants[${i}] has unknown action "${a}"`));
    need(isInt(g.until_unix) && g.until_unix >= 0, `grants[${i}].until_unix must be a non-negative integer`);
  });
  const classes = new Set();
  sc.residency.forEach((r, i) => {
    need(r && isStr(r.classification), `residency[${i}].classification must be a string`);
    need(!classes.has(r.classification), `residency[${i}]: second entry for classification "${r.classification}"`);
    classes.add(r.classification);
    strList(r.regions, `residency[${i}].regions`); strList(r.transfers, `residency[${i}].transfers`);
  });
  const dsIds = new Set(sc.datasets.map((d) => d.id)), prIds = new Set(sc.principals.map((p) => p.id));
  need(dsIds.size === sc.datasets.length && prIds.size === sc.principals.length, 'duplicate dataset or principal id');
  const grantIds = sc.grants.filter((g) => g.id !== undefined).map((g) => g.id);
  need(new Set(grantIds).size === grantIds.length, 'duplicate grant id');
  sc.events.forEach((e, i) => {
    need(e && isStr(e.region) && isInt(e.time_unix), `events[${i}] needs string region and integer time_unix`);
    need(prIds.has(e.principal), `events[${i}]: unknown principal "${e.principal}"`);
    need(ACTIONS.includes(e.action), `events[${i}]: unknown action "${e.action}"`);
    need(dsIds.has(e.dataset), `events[${i}]: unknown dataset "${e.dataset}"`);
  });
  return sc;
}

// One permit per grant (policy id "grant:<id>"); a grant that can cover nothing (no principals
// and no groups, no actions or no datasets) gets none.  One forbid per residency rule.
// Cedar evaluates every policy for every request, so checks go where they fail soonest: a single
// principal, group or dataset goes in the scope, else the condition starts with the dataset test.
function policies(sc) {
  const out = {};
  sc.grants.forEach((g, i) => {
    if ((g.principals.length === 0 && g.groups.length === 0) || g.actions.length === 0 || g.datasets.length === 0) return;
    const who = [...g.principals.map((p) => `principal == ${uid('User', p)}`), ...g.groups.map((x) => `principal in ${uid('Group', x)}`)];
    const cond = [];
    let [pScope, rScope] = ['principal', 'resource'];
    if (g.datasets.length === 1) rScope = `resource == ${uid('Dataset', g.datasets[0])}`;
    else cond.push(`resource in ${set(g.datasets.map((d) => uid('Dataset', d)))}`);
    if (who.length === 1) pScope = who[0];
    else cond.push(`(${who.join(' || ')})`);
    if (g.regions.length) cond.push(`${set(g.regions.map(lit))}.contains(context.region)`);
    if (g.until_unix !== 0) cond.push(`context.time < ${g.until_unix}`);
    out[isStr(g.id) ? `grant:${g.id}` : `grant#${i}`] = `permit (${pScope}, action in ${set(g.actions.map((a) => uid('Action', a)))}, ${rScope})` +
      (cond.length ? `\nwhen { ${cond.join(' && ')} };` : ';');
  });
  for (const r of sc.residency) {
    out[`residency:${r.classification}`] = `forbid (principal, action, resource)\nwhen { resource.classification == ${lit(r.classification)}` +
      ` && !(${set([...r.regions, ...r.transfers].map(lit))}.contains(context.region)) };`;
  }
  return out;
}

function main() {
  const args = process.argv.slice(2);
  const full = args.includes('--full-entities');
  const files = args.filter((a) => a !== '--full-entities');
  if (files.length !== 2) die('usage: node cedar_decide.js SCENARIO.json DECISIONS.out [--full-entities]');
  const sc = loadScenario(files[0]);

  const parsed = cedar.preparsePolicySet(POLICY_SET_ID, { staticPolicies: policies(sc) });
  if (parsed.type !== 'success') die(`policy set does not parse: ${errText(parsed.errors)}`);

  // Entities, built once: Users (parents = their Groups), Groups, Datasets.
  const E = (type, id) => ({ type, id });
  const groupEnt = new Map(), userEnt = new Map(), dsEnt = new Map();
  for (const p of sc.principals) for (const g of p.groups) if (!groupEnt.has(g)) groupEnt.set(g, { uid: E('Group', g), attrs: {}, parents: [] });
  for (const p of sc.principals) userEnt.set(p.id, { uid: E('User', p.id), attrs: {}, parents: p.groups.map((g) => E('Group', g)) });
  for (const d of sc.datasets) dsEnt.set(d.id, { uid: E('Dataset', d.id), attrs: { classification: d.classification, home: d.home }, parents: [] });
  const all = [...userEnt.values(), ...groupEnt.values(), ...dsEnt.values()];
  const userSlice = new Map(sc.principals.map((p) => [p.id, [userEnt.get(p.id), ...[...new Set(p.groups)].map((g) => groupEnt.get(g))]]));
  const actionUid = Object.fromEntries(ACTIONS.map((a) => [a, E('Action', a)]));

  const n = sc.events.length;
  const decide = (i) => {
    const e = sc.events[i];
    const ans = cedar.statefulIsAuthorized({
      principal: userEnt.get(e.principal).uid,
      action: actionUid[e.action],
      resource: dsEnt.get(e.dataset).uid,
      context: { region: e.region, time: e.time_unix },
      preparsedPolicySetId: POLICY_SET_ID,
      entities: full ? all : [...userSlice.get(e.principal), dsEnt.get(e.dataset)],
    });
    if (ans.type !== 'success') die(`event ${i}: Cedar failure: ${errText(ans.errors)}`);
    const errs = ans.response.diagnostics.errors;
    if (errs.length) die(`event ${i}: Cedar evaluation error in ${errs.map((x) => `${x.policyId}: ${x.error.message}`).join('; ')}`);
    return ans.response.decision;
  };

  // Untimed warm-up (lets V8 tier the wasm up), then the timed loop over every event.
  for (let i = 0; i < Math.min(n, WARMUP); i++) decide(i);
  const decisions = new Array(n);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) decisions[i] = decide(i);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;

  for (const d of decisions) if (d !== 'allow' && d !== 'deny') die(`unexpected decision "${d}"`);
  try { fs.writeFileSync(files[1], n ? decisions.join('\n') + '\n' : ''); } catch (e) { die(`cannot write ${files[1]}: ${e.message}`); }
  const rate = secs > 0 ? Math.round(n / secs) : 0;
  process.stdout.write(`cedar: ${n} decisions in ${secs.toFixed(3)} s = ${rate} decisions/s (cedar-wasm ${cedar.getCedarSDKVersion()})\n`);
}

main();
