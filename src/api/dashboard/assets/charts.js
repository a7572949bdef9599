// Inline SVG charts, drawn from the jobs the API returned: jobs per hour, bytes transferred
// per hour, and a VM's jobs on a time line. Colours come from the stylesheet (classes).

import { bytes, humanDuration, instant, s, statusClass } from "./format.js";

const HOUR_MS = 3_600_000;
const HOURS = 24;

/** The last 24 hours of the simulated clock as hourly buckets: [{start, end}]. */
function hourBuckets(nowMs) {
  const last = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
  return Array.from({ length: HOURS }, (_, index) => {
    const start = last - (HOURS - 1 - index) * HOUR_MS;
    return { start, end: start + HOUR_MS };
  });
}

/** The number a job's property bag gives under `key` ("Bytes Transferred"), or 0. */
export function bagNumber(job, key) {
  const value = job.properties.extendedInfo?.propertyBag?.[key];
  const number = Number(value);
  return Number.isFinite(number) ? number : 0;
}

const WIDTH = 600;
const HEIGHT = 170;
const PAD = { left: 44, right: 8, top: 10, bottom: 24 };

/** A bar chart of hourly `series` ([{class, value(bucket)}] stacked), with y labels by
 *  `label`; `counts` keeps the three gridlines on whole numbers. */
function hourlyBars(title, buckets, series, label, counts = false) {
  const totals = buckets.map((bucket) => series.reduce((sum, one) => sum + one.value(bucket), 0));
  const highest = Math.max(1, ...totals);
  const max = counts ? Math.ceil(highest / 2) * 2 : highest;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const barW = plotW / buckets.length;
  const y = (value) => PAD.top + plotH - (value / max) * plotH;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    role: "img",
    "aria-label": title,
  });
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    svg.append(
      s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }),
      s("text", { x: PAD.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, label(value)),
    );
  }
  buckets.forEach((bucket, index) => {
    let base = 0;
    const x = PAD.left + index * barW + 1;
    for (const one of series) {
      const value = one.value(bucket);
      if (value > 0) {
        svg.append(
          s(
            "rect",
            { x, y: y(base + value), width: Math.max(barW - 2, 1), height: y(base) - y(base + value), class: one.class },
            s("title", {}, `${instant(new Date(bucket.start).toISOString()).slice(11, 16)}: ${label(value)} ${one.name}`),
          ),
        );
      }
      base += value;
    }
    if (index % 6 === 0) {
      const hour = new Date(bucket.start).toISOString().slice(11, 16);
      svg.append(s("text", { x: x + barW / 2, y: HEIGHT - 6, class: "axis", "text-anchor": "middle" }, hour));
    }
  });
  return svg;
}

function inBucket(job, bucket) {
  const start = Date.parse(job.properties.startTime);
  return start >= bucket.start && start < bucket.end;
}

/** Jobs started per hour over the last 24 simulated hours, stacked by outcome. */
export function jobsPerHourChart(jobs, nowMs) {
  const buckets = hourBuckets(nowMs);
  const count = (statuses) => (bucket) =>
    jobs.filter((job) => inBucket(job, bucket) && statuses.includes(job.properties.status)).length;
  return hourlyBars(
    "Jobs started per hour",
    buckets,
    [
      { name: "completed", class: "bar-completed", value: count(["Completed", "CompletedWithWarnings"]) },
      { name: "failed", class: "bar-failed", value: count(["Failed", "Cancelled"]) },
      { name: "running", class: "bar-inprogress", value: count(["InProgress", "Cancelling"]) },
    ],
    (value) => String(Math.round(value)),
    true,
  );
}

/** Bytes backup jobs transferred to the vault per hour (their "Bytes Transferred"). */
export function bytesPerHourChart(jobs, nowMs) {
  const buckets = hourBuckets(nowMs);
  return hourlyBars(
    "Bytes transferred per hour",
    buckets,
    [
      {
        name: "transferred",
        class: "bar-bytes",
        value: (bucket) =>
          jobs
            .filter((job) => inBucket(job, bucket))
            .reduce((sum, job) => sum + bagNumber(job, "Bytes Transferred"), 0),
      },
    ],
    bytes,
  );
}

const LANES = ["Backup", "Restore", "Other"];

/** One VM's jobs as bars on a time line (a lane per kind), from its first shown job to now. */
export function jobTimeline(jobs, nowMs) {
  const width = 900;
  const laneH = 18;
  const left = 56;
  const height = LANES.length * (laneH + 6) + 22;
  const starts = jobs.map((job) => Date.parse(job.properties.startTime));
  const from = Math.min(nowMs - HOUR_MS, ...starts);
  const span = Math.max(nowMs - from, 1);
  const x = (ms) => left + ((ms - from) / span) * (width - left - 8);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart timeline", role: "img", "aria-label": "Jobs over time" });
  LANES.forEach((lane, index) => {
    const top = index * (laneH + 6);
    svg.append(
      s("rect", { x: left, y: top, width: width - left - 8, height: laneH, class: "lane" }),
      s("text", { x: left - 6, y: top + laneH - 5, class: "axis", "text-anchor": "end" }, lane),
    );
  });
  for (const job of jobs) {
    const p = job.properties;
    const lane = LANES.indexOf(p.operation) >= 0 ? LANES.indexOf(p.operation) : 2;
    const start = Date.parse(p.startTime);
    const end = p.endTime ? Date.parse(p.endTime) : nowMs;
    const top = lane * (laneH + 6);
    svg.append(
      s(
        "rect",
        {
          x: x(start),
          y: top + 2,
          width: Math.max(x(end) - x(start), 3),
          height: laneH - 4,
          class: `bar-${statusClass(p.status)}`,
        },
        s("title", {}, `${p.operation} ${p.status}, ${instant(p.startTime)}, ${humanDuration(end - start)}`),
      ),
    );
  }
  const axisY = height - 6;
  svg.append(
    s("text", { x: left, y: axisY, class: "axis", "text-anchor": "start" }, instant(new Date(from).toISOString())),
    s("text", { x: width - 8, y: axisY, class: "axis", "text-anchor": "end" }, "now"),
  );
  return svg;
}
