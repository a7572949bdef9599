// The dashboard's panels, each a function from what the API returned (the model `app.js`
// loads) to DOM nodes. Buttons call the `actions` app.js hands in; nothing here fetches.

import { bagNumber, bytesPerHourChart, jobsPerHourChart, jobTimeline } from "./charts.js";
import { armId, bytes, durationMs, h, humanDuration, instant, statusClass } from "./format.js";

function badge(status) {
  return h("span", { class: `badge badge-${statusClass(status)}` }, status || "—");
}

function table(headers, rows, empty) {
  if (rows.length === 0) {
    return h("p", { class: "empty" }, empty);
  }
  return h(
    "div",
    { class: "table-wrap" },
    h("table", {}, h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))), h("tbody", {}, rows)),
  );
}

/** The protected item of a VM (by ARM id, case-insensitively), with its vault. */
export function itemOfVm(model, vmId) {
  for (const vault of model.vaults) {
    const item = vault.items.find((one) => (one.item.properties.virtualMachineId || "").toLowerCase() === vmId.toLowerCase());
    if (item) {
      return { vault, item };
    }
  }
  return null;
}

// ---- inventory ----

function diskList(vm) {
  const storage = vm.properties.storageProfile || {};
  const disks = [storage.osDisk, ...(storage.dataDisks || [])].filter(Boolean);
  return h(
    "ul",
    { class: "plain" },
    disks.map((disk) =>
      h("li", {}, disk.name, " ", h("span", { class: "muted" }, `${disk.diskSizeGB ?? "?"} GiB`, disk.lun === undefined ? " OS" : ` LUN ${disk.lun}`)),
    ),
  );
}

function extensionList(view) {
  if (!view) {
    return h("span", { class: "muted" }, "—");
  }
  const agent = view.vmAgent?.statuses?.[0];
  const extensions = view.extensions || [];
  return h(
    "ul",
    { class: "plain" },
    h("li", {}, "Agent ", agent ? badge(agent.displayStatus) : h("span", { class: "muted" }, "not reporting")),
    extensions.map((extension) => h("li", {}, extension.name, " ", badge(extension.statuses?.[0]?.displayStatus || "Unknown"))),
  );
}

function protectControl(model, vm, ui, actions) {
  const found = itemOfVm(model, vm.id);
  if (found) {
    const p = found.item.item.properties;
    return h("div", {}, badge(p.protectionState), h("div", { class: "muted" }, `${found.vault.vault.name} · ${p.policyName || "no policy"}`));
  }
  const policies = model.vaults
    .filter((vault) => vault.vault.location === vm.location)
    .flatMap((vault) => vault.policies.map((policy) => ({ vault, policy })));
  if (policies.length === 0) {
    return h("span", { class: "muted" }, `No vault in ${vm.location}`);
  }
  const select = h(
    "select",
    { "aria-label": `Policy for ${vm.name}`, onchange: (event) => ui.protectChoice.set(vm.id, event.target.value) },
    policies.map(({ vault, policy }) => h("option", { value: policy.id }, `${vault.vault.name} / ${policy.name}`)),
  );
  if (ui.protectChoice.has(vm.id)) {
    select.value = ui.protectChoice.get(vm.id);
  }
  return h(
    "div",
    { class: "inline-form" },
    select,
    h("button", { type: "button", class: "primary", onclick: () => actions.protect(vm, select.value) }, "Protect"),
  );
}

export function inventoryView(model, ui, actions) {
  const rows = model.vms.map(({ vm, instanceView }) =>
    h(
      "tr",
      { "data-vm": vm.name },
      h("td", {}, h("strong", {}, vm.name), h("div", { class: "muted" }, vm.properties.hardwareProfile?.vmSize || "")),
      h("td", {}, armId(vm.id).resourceGroup, h("div", { class: "muted" }, vm.location)),
      h("td", {}, diskList(vm)),
      h("td", {}, extensionList(instanceView)),
      h("td", {}, protectControl(model, vm, ui, actions)),
    ),
  );
  return [
    h(
      "div",
      { class: "facts" },
      model.subscriptions.map((sub) =>
        h(
          "div",
          { class: "fact" },
          h("span", { class: "label" }, "Subscription"),
          h("span", {}, sub.displayName),
          h("code", { class: "muted" }, sub.subscriptionId),
        ),
      ),
      h(
        "div",
        { class: "fact" },
        h("span", { class: "label" }, "Resource groups"),
        h("span", {}, model.groups.length ? model.groups.map((group) => group.name).join(", ") : "none"),
      ),
    ),
    table(["VM", "Group", "Disks", "Agent and extensions", "Protection"], rows, "No virtual machines yet: start a vaultsim-agent."),
  ];
}

// ---- vaults, policies, protected items ----

function policySummary(policy) {
  const p = policy.properties || {};
  const schedule = p.schedulePolicy || {};
  const times = (schedule.scheduleRunTimes || []).map((time) => time.slice(11, 16)).join(", ");
  const frequency = schedule.scheduleRunFrequency || (schedule.hourlySchedule ? "Hourly" : "");
  const days = p.retentionPolicy?.dailySchedule?.retentionDuration?.count;
  return [frequency, times && `at ${times}`, days && `keep ${days} d`, p.instantRpRetentionRangeInDays && `instant ${p.instantRpRetentionRangeInDays} d`]
    .filter(Boolean)
    .join(" · ");
}

export function vaultsView(model, actions) {
  if (model.vaults.length === 0) {
    return h("p", { class: "empty" }, "No Recovery Services vaults yet (az backup vault create).");
  }
  return model.vaults.map((vault) =>
    h(
      "article",
      { class: "vault", "data-vault": vault.vault.name },
      h(
        "h3",
        {},
        vault.vault.name,
        " ",
        h("span", { class: "muted" }, `${armId(vault.vault.id).resourceGroup} · ${vault.vault.location}`),
      ),
      h(
        "ul",
        { class: "chips" },
        vault.policies.map((policy) => h("li", { title: policySummary(policy) }, h("strong", {}, policy.name), " ", h("span", { class: "muted" }, policySummary(policy)))),
      ),
      table(
        ["Item", "Policy", "State", "Last backup", "Points", ""],
        vault.items.map(({ item }) => {
          const p = item.properties;
          const never = !p.lastBackupTime || p.lastBackupTime.startsWith("2001-01-01");
          return h(
            "tr",
            { "data-item": p.friendlyName },
            h("td", {}, h("strong", {}, p.friendlyName), h("div", { class: "muted" }, p.containerName)),
            h("td", {}, p.policyName || "—"),
            h("td", {}, badge(p.protectionState), h("div", { class: "muted" }, p.healthStatus || "")),
            h("td", {}, p.lastBackupStatus ? badge(p.lastBackupStatus) : h("span", { class: "muted" }, "none yet"), h("div", { class: "muted" }, never ? "" : instant(p.lastBackupTime))),
            h("td", { class: "num" }, p.extendedInfo?.recoveryPointCount ?? 0),
            h("td", {}, h("button", { type: "button", onclick: () => actions.backupNow(item) }, "Back up now")),
          );
        }),
        "No protected items in this vault.",
      ),
    ),
  );
}

// ---- jobs: running, time line, charts ----

function taskList(job) {
  const tasks = job.properties.extendedInfo?.tasksList || [];
  return h(
    "ul",
    { class: "plain tasks" },
    tasks.map((task) =>
      h(
        "li",
        {},
        badge(task.status),
        " ",
        task.taskId,
        task.progressPercentage !== undefined ? ` ${task.progressPercentage}%` : "",
        task.taskExecutionDetails ? h("span", { class: "muted" }, ` · ${task.taskExecutionDetails}`) : "",
      ),
    ),
  );
}

function progressBar(percent) {
  const bar = h("span", { class: "progress-fill" });
  // Set through the CSSOM: the policy allows no inline style attributes.
  bar.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  return h(
    "span",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(percent) },
    bar,
  );
}

export function runningView(model) {
  const running = model.jobs.filter((job) => ["InProgress", "Cancelling"].includes(job.properties.status));
  return table(
    ["VM", "Operation", "Progress", "Tasks", "Started"],
    running.map((job) => {
      const p = job.properties;
      const percent = p.extendedInfo?.progressPercentage ?? 0;
      return h(
        "tr",
        { "data-job": job.name },
        h("td", {}, p.entityFriendlyName),
        h("td", {}, p.operation),
        h("td", {}, progressBar(percent), h("span", { class: "muted" }, ` ${Math.round(percent)}%`)),
        h("td", {}, taskList(job)),
        h("td", {}, instant(p.startTime)),
      );
    }),
    "Nothing running.",
  );
}

/** The recovery point a backup job made: the one whose time falls within the job's run. */
function pointOfJob(model, job) {
  const p = job.properties;
  if (p.operation !== "Backup") {
    return null;
  }
  const start = Date.parse(p.startTime);
  const end = p.endTime ? Date.parse(p.endTime) : Infinity;
  return model.points.find(({ point, item }) => {
    const time = Date.parse(point.properties.recoveryPointTime);
    return item.properties.containerName === p.containerName && time >= start && time <= end;
  });
}

function errorCell(job) {
  const errors = job.properties.errorDetails || [];
  if (errors.length === 0) {
    return h("td", { class: "muted" }, "—");
  }
  return h(
    "td",
    { class: "error-text" },
    errors.map((error) => h("div", {}, h("code", {}, error.errorCode), " ", error.errorTitle || "", h("div", {}, error.errorString))),
  );
}

export function timelineView(model) {
  const byVm = new Map();
  for (const job of model.jobs) {
    const key = job.properties.containerName || job.properties.entityFriendlyName;
    if (!byVm.has(key)) {
      byVm.set(key, []);
    }
    byVm.get(key).push(job);
  }
  if (byVm.size === 0) {
    return h("p", { class: "empty" }, "No jobs yet.");
  }
  return [...byVm.values()].map((jobs) => {
    const name = jobs[0].properties.entityFriendlyName;
    const shown = jobs.slice(0, 50);
    return h(
      "article",
      { class: "vm-timeline", "data-vm": name },
      h("h3", {}, name, " ", h("span", { class: "muted" }, jobs[0].properties.containerName)),
      jobTimeline(shown, model.nowMs),
      table(
        ["Operation", "Status", "Scheduled", "Started", "Duration", "Consistency", "Error"],
        shown.map((job) => {
          const p = job.properties;
          const schedule = model.schedules.get(job.name);
          const point = pointOfJob(model, job);
          const late = schedule ? Date.parse(p.startTime) - Date.parse(schedule.scheduledAt) : null;
          return h(
            "tr",
            { "data-job": job.name, "data-operation": p.operation, "data-status": p.status },
            h("td", {}, p.operation, p.isUserTriggered ? h("div", { class: "muted" }, "on demand") : null),
            h("td", {}, badge(p.status)),
            h("td", {}, schedule ? instant(schedule.scheduledAt) : h("span", { class: "muted" }, "—")),
            h("td", {}, instant(p.startTime), late !== null && late > 1000 ? h("div", { class: "muted" }, `+${humanDuration(late)}`) : null),
            h("td", {}, humanDuration(durationMs(p.duration))),
            h("td", {}, point ? point.point.properties.recoveryPointType : h("span", { class: "muted" }, "—")),
            errorCell(job),
          );
        }),
        "No jobs.",
      ),
    );
  });
}

export function chartsView(model) {
  const transferred = model.jobs.reduce((sum, job) => sum + bagNumber(job, "Bytes Transferred"), 0);
  return [
    h("figure", { class: "chart-box" }, h("figcaption", {}, "Jobs started per hour (last 24 h of simulated time)"), jobsPerHourChart(model.jobs, model.nowMs)),
    h(
      "figure",
      { class: "chart-box" },
      h("figcaption", {}, `Bytes transferred to vaults per hour (total ${bytes(transferred)})`),
      bytesPerHourChart(model.jobs, model.nowMs),
    ),
  ];
}

// ---- recovery points ----

function tierCell(point) {
  const tiers = point.properties.recoveryPointTierDetails || [];
  const names = { InstantRP: "Instant", HardenedRP: "Vault", ArchivedRP: "Archive" };
  return h(
    "td",
    {},
    tiers.map((tier) => h("span", { class: `badge badge-${tier.status === "Valid" ? "completed" : "muted"}` }, `${names[tier.type] || tier.type}${tier.status === "Valid" ? "" : ` (${tier.status})`}`)),
  );
}

export function recoveryPointsView(model, actions) {
  const items = model.vaults.flatMap((vault) => vault.items.map((entry) => ({ vault, ...entry })));
  if (items.length === 0) {
    return h("p", { class: "empty" }, "No protected items.");
  }
  return items.map(({ item, points }) =>
    h(
      "article",
      { class: "item-points", "data-item": item.properties.friendlyName },
      h("h3", {}, item.properties.friendlyName, " ", h("span", { class: "muted" }, `${points.length} recovery point${points.length === 1 ? "" : "s"}`)),
      table(
        ["Time", "Consistency", "Tiers", "Expires", ""],
        points.map((point) => {
          const run = model.expiries.get(point.name);
          return h(
            "tr",
            { "data-point": point.name },
            h("td", {}, instant(point.properties.recoveryPointTime)),
            h("td", {}, point.properties.recoveryPointType),
            tierCell(point),
            h(
              "td",
              {},
              run?.recoveryPointExpiresAt ? instant(run.recoveryPointExpiresAt) : h("span", { class: "muted" }, "never"),
              run?.instantSnapshotsExpireAt ? h("div", { class: "muted" }, `instant until ${instant(run.instantSnapshotsExpireAt)}`) : null,
            ),
            h("td", {}, h("button", { type: "button", onclick: () => actions.restore(item, point) }, "Restore disks")),
          );
        }),
        "No recovery points yet.",
      ),
    ),
  );
}
