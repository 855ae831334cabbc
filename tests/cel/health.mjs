// Evaluates Flux healthCheckExprs (docs/health/flux-health-check-exprs.yaml) with a standard CEL
// evaluator (@bufbuild/cel) the way Flux's kustomize-controller does: the object's top-level
// fields (metadata, spec, status) are the variables; inProgress is evaluated first, then failed,
// then current; when none holds, or an expression fails to evaluate (a field not there yet), the
// object is InProgress.
//
//   node health.mjs EXPRS.json CASES.json
// EXPRS.json: the healthCheckExprs list (apiVersion, kind, current, inProgress?, failed?).
// CASES.json: [{name, object, expect: "Current"|"InProgress"|"Failed"}]
// Prints one line per case; exits 1 when a case's status differs from expect.
import { readFileSync } from "node:fs";
import { run } from "@bufbuild/cel";

const [exprsPath, casesPath] = process.argv.slice(2);
const exprs = JSON.parse(readFileSync(exprsPath, "utf8"));
const cases = JSON.parse(readFileSync(casesPath, "utf8"));

// JSON -> CEL input: objects become maps, integral numbers CEL ints (as in Kubernetes).
const toCel = (v) =>
  Array.isArray(v) ? v.map(toCel)
  : v !== null && typeof v === "object" ? new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]))
  : typeof v === "number" && Number.isInteger(v) ? BigInt(v)
  : v;

function holds(expr, bindings) {
  if (!expr) return false;
  try {
    return run(expr, bindings) === true;
  } catch (e) {
    return null; // not evaluable yet
  }
}

function status(obj) {
  const check = exprs.find((e) => e.apiVersion === obj.apiVersion && e.kind === obj.kind);
  if (!check) return "NoCheck";
  const bindings = {};
  for (const [k, v] of Object.entries(obj)) bindings[k] = toCel(v);
  for (const [name, result] of [["inProgress", "InProgress"], ["failed", "Failed"],
                                ["current", "Current"]]) {
    const r = holds(check[name], bindings);
    if (r === null) return "InProgress";
    if (r) return result;
  }
  return "InProgress";
}

let bad = 0;
for (const c of cases) {
  const got = status(c.object);
  const ok = got === c.expect;
  if (!ok) bad++;
  console.log(`${ok ? "ok  " : "FAIL"} ${c.name}: ${got}${ok ? "" : ` (want ${c.expect})`}`);
}
process.exit(bad ? 1 : 0);
