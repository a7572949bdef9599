// Turns the JSON lines written by `vaultsim-loadgen` (one per workload and target) into the
// markdown table of scripts/bench-blob, plus a check of each target from the issue.
// Usage: node bench/blob-report.mjs results.jsonl
// Node rather than jq because Node is already required for Azurite.

import { readFileSync } from "node:fs";

const [path] = process.argv.slice(2);
if (!path) {
  console.error("usage: node blob-report.mjs <results.jsonl>");
  process.exit(2);
}

const runs = new Map();
for (const line of readFileSync(path, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const run = JSON.parse(line);
  runs.set(`${run.workload}/${run.target}`, run);
}
const run = (workload, target) => runs.get(`${workload}/${target}`);

const number = (value, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const micros = (us) =>
  us >= 1000 ? `${number(us / 1000, us >= 100_000 ? 0 : 1)} ms` : `${number(us)} µs`;

// Each row says how to read one number out of a run and how to print it; `better` fixes the
// direction of the ratio (always "times better than Azurite"), and `tenfold` marks the rows
// the "at least 10x Azurite" target applies to.
const rows = [
  { label: "Sequential 4 MiB Put Page", workload: "seq-write", read: (r) => r.throughput_mb_s, show: (v) => `${number(v)} MB/s`, better: "higher", tenfold: true },
  { label: "Sequential 4 MiB ranged Get Blob", workload: "seq-read", read: (r) => r.throughput_mb_s, show: (v) => `${number(v)} MB/s`, better: "higher" },
  { label: "Random 4 KiB Put Page", workload: "rand-write", read: (r) => r.req_per_s, show: (v) => `${number(v)} req/s`, better: "higher", tenfold: true },
  { label: "Random 4 KiB Put Page, p99 latency", workload: "rand-write", read: (r) => r.p99_us, show: micros, better: "lower" },
  { label: "Snapshot Blob p50 (1 TiB, 10k ranges)", workload: "snapshot", read: (r) => r.p50_us, show: micros, better: "lower", tenfold: true },
  { label: "Snapshot Blob p99", workload: "snapshot", read: (r) => r.p99_us, show: micros, better: "lower" },
  { label: "Page-range diff p50", workload: "diff", read: (r) => r.p50_us, show: micros, better: "lower", tenfold: true },
  { label: "Page-range diff p99", workload: "diff", read: (r) => r.p99_us, show: micros, better: "lower" },
  { label: "Ranges the diff returned", workload: "diff", read: (r) => r.diff_ranges_returned, show: (v) => number(v) },
  { label: "Server peak RSS over the run", workload: "server-memory", read: (r) => r.peak_rss_mib, show: (v) => `${number(v)} MiB`, better: "lower" },
];

const cell = ({ workload, read, show }, target) => {
  const r = run(workload, target);
  if (!r) return "not run";
  const shown = show(read(r));
  return r.errors > 0 ? `${shown} (${r.errors} errors)` : shown;
};

// How many times better vaultsim is than Azurite on `row`, or undefined.
const timesBetter = ({ workload, read, better }) => {
  const v = run(workload, "vaultsim");
  const a = run(workload, "azurite");
  if (!better || !v || !a) return undefined;
  const [good, bad] = better === "higher" ? [read(v), read(a)] : [read(a), read(v)];
  return bad > 0 ? good / bad : undefined;
};

const lines = [
  "| workload | vaultsim | Azurite | vaultsim vs Azurite |",
  "| --- | ---: | ---: | ---: |",
];
for (const row of rows) {
  const times = timesBetter(row);
  const ratio = times === undefined ? "" : `${number(times, 1)}×`;
  lines.push(`| ${row.label} | ${cell(row, "vaultsim")} | ${cell(row, "azurite")} | ${ratio} |`);
}

const diff = run("diff", "vaultsim") ?? run("diff", "azurite");
if (diff) {
  lines.push(
    "",
    `Diff: ${number(diff.changed_ranges)} of ${number(diff.written_ranges)} ranges rewritten between the two snapshots.` +
      " Azurite ignores `prevsnapshot` and returns the blob's full page list, so its diff numbers time a different (larger) answer.",
  );
}

// The client shares the 2 cores with the server; show how much of them it took.
const clientCpu = [...runs.values()]
  .filter((r) => r.client_cpu_cores !== undefined && r.client_cpu_cores !== null)
  .map((r) => `${r.target} ${r.workload} ${number(r.client_cpu_cores, 2)}`);
if (clientCpu.length) {
  lines.push("", `Load generator CPU while measuring, in cores: ${clientCpu.join(", ")}.`);
}

// The targets: absolute ones for vaultsim, and at least 10x Azurite on each workload.
const targets = [
  ["vaultsim sequential ≥ 1 GB/s", run("seq-write", "vaultsim")?.throughput_mb_s, (v) => v >= 1000],
  ["vaultsim random 4 KiB ≥ 20,000 req/s", run("rand-write", "vaultsim")?.req_per_s, (v) => v >= 20_000],
];
for (const row of rows.filter((r) => r.tenfold)) {
  targets.push([`${row.label}: ≥ 10× Azurite`, timesBetter(row), (t) => t >= 10]);
}
lines.push("", "Targets:");
for (const [label, value, met] of targets) {
  const verdict = value === undefined ? "not measured" : met(value) ? "met" : "NOT met";
  lines.push(`- ${label}: ${verdict}`);
}

console.log(lines.join("\n"));
