// Evaluates sealift-generated ValidatingAdmissionPolicies with a standard CEL evaluator
// (@bufbuild/cel) against a table of sample workloads, the way kube-apiserver does: variables in
// order, then every validation; a validation that is false denies, and so does one that fails to
// evaluate (the generated policies use failurePolicy: Fail).
//
//   node eval.mjs RENDERED.json CASES.json
// RENDERED.json: output of `sealift policy render -o json POLICY` (a List).
// CASES.json: [{name, object, expect: "allow"|"deny", rule?: "<rule name in the message>",
//               error?: true, operation?: "CREATE"|"UPDATE", subResource?: "ephemeralcontainers",
//               oldObject?: {...}, namespace?: "shop", namespaceLabels?: {...}}]
//   `rule` names the rule that must be among the denials. operation defaults to CREATE; a
//   subResource request (e.g. `kubectl debug`: UPDATE of pods/ephemeralcontainers, whose object
//   is the whole Pod) matches only rules that list "<resource>/<subResource>". The binding's
//   namespaceSelector is evaluated against the namespace's labels (default: namespace "shop"
//   labelled sealift.dev/enforce=true; kubernetes.io/metadata.name is always set, as by
//   kube-apiserver).
import { readFileSync } from "node:fs";
import { run } from "@bufbuild/cel";

const [renderedPath, casesPath] = process.argv.slice(2);
const rendered = JSON.parse(readFileSync(renderedPath, "utf8"));
const cases = JSON.parse(readFileSync(casesPath, "utf8"));

// JSON -> CEL input: objects become maps, integral numbers CEL ints (as in Kubernetes).
const toCel = (v) =>
  Array.isArray(v) ? v.map(toCel)
  : v !== null && typeof v === "object" ? new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]))
  : typeof v === "number" && Number.isInteger(v) ? BigInt(v)
  : v;

const policies = rendered.items.filter((o) => o.kind === "ValidatingAdmissionPolicy");
if (policies.length === 0) {
  console.error("no ValidatingAdmissionPolicy in " + renderedPath);
  process.exit(2);
}

const policyBindings = rendered.items.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding");

const kindToResource = {
  Pod: ["", "pods"], ReplicationController: ["", "replicationcontrollers"], Deployment: ["apps", "deployments"], StatefulSet: ["apps", "statefulsets"],
  DaemonSet: ["apps", "daemonsets"], ReplicaSet: ["apps", "replicasets"],
  Job: ["batch", "jobs"], CronJob: ["batch", "cronjobs"],
};

function matches(policy, c) {
  const gr = kindToResource[c.object.kind];
  if (!gr) return false;
  const resource = c.subResource ? `${gr[1]}/${c.subResource}` : gr[1];
  const op = c.operation || "CREATE";
  return policy.spec.matchConstraints.resourceRules.some(
    (r) => r.apiGroups.includes(gr[0]) && r.resources.includes(resource) &&
      r.operations.includes(op));
}

// A standard label selector (matchLabels, matchExpressions) against a label map.
function selects(selector, labels) {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels || {}))
    if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.hasOwn(labels, e.key);
    const ok = e.operator === "In" ? has && e.values.includes(labels[e.key])
      : e.operator === "NotIn" ? !has || !e.values.includes(labels[e.key])
      : e.operator === "Exists" ? has
      : e.operator === "DoesNotExist" ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

function bound(policy, c) {
  const ns = c.namespace || "shop";
  const labels = { ...(c.namespaceLabels || { "sealift.dev/enforce": "true" }),
    "kubernetes.io/metadata.name": ns };
  return policyBindings.some((b) => b.spec.policyName === policy.metadata.name &&
    selects(b.spec.matchResources && b.spec.matchResources.namespaceSelector, labels));
}

function evaluate(policy, c) {
  const bindings = { object: toCel(c.object), variables: new Map() };
  if (c.oldObject) bindings.oldObject = toCel(c.oldObject);
  const denials = [];
  const errors = [];
  for (const v of policy.spec.variables || []) {
    try {
      bindings.variables.set(v.name, run(v.expression, bindings));
    } catch (e) {
      errors.push(`variable ${v.name}: ${e.message}`);
      return { denials: ["(variable error)"], errors };
    }
  }
  for (const val of policy.spec.validations) {
    let ok;
    try {
      ok = run(val.expression, bindings);
    } catch (e) {
      errors.push(`${val.message}: ${e.message}`);
      ok = false;
    }
    if (ok !== true) denials.push(val.message);
  }
  return { denials, errors };
}

let failed = 0;
for (const c of cases) {
  const denials = [];
  const errors = [];
  for (const p of policies) {
    if (!matches(p, c) || !bound(p, c)) continue;
    const r = evaluate(p, c);
    denials.push(...r.denials);
    errors.push(...r.errors);
  }
  const outcome = denials.length ? "deny" : "allow";
  const problems = [];
  if (outcome !== c.expect) problems.push(`expected ${c.expect}, got ${outcome}`);
  if (c.rule && !denials.some((m) => m.includes(`: ${c.rule}:`)))
    problems.push(`expected a denial by ${c.rule}`);
  if (errors.length && !c.error) problems.push(`evaluation errors: ${errors.join("; ")}`);
  if (problems.length) {
    failed++;
    console.log(`FAIL ${c.name}: ${problems.join("; ")}` +
      (denials.length ? `\n     denials: ${denials.join(" | ")}` : ""));
  } else {
    console.log(`ok   ${c.name} (${outcome}${c.rule ? " by " + c.rule : ""})`);
  }
}
console.log(`${cases.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
