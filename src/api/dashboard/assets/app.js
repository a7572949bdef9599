// The dashboard: signs in (unless the service runs with --no-auth), loads everything it
// shows from the API every couple of seconds, renders the panels, and runs the actions
// (protect, back up now, restore, move the clock) as ARM and /_sim requests.

import { API_VERSIONS, ApiError, authRequired, call, currentSession, listAll, signIn, signOut, withQuery } from "./api.js";
import { h, instant } from "./format.js";
import { chartsView, inventoryView, recoveryPointsView, runningView, timelineView, vaultsView } from "./views.js";

const POLL_MS = 2000;
const RS = API_VERSIONS.recoveryServices;

const $ = (id) => document.getElementById(id);

/** What the user chose that a re-render must keep. */
const ui = { protectChoice: new Map() };
/** The JSON each panel was last drawn from: a panel is redrawn only when it changed. */
const drawn = new Map();
let model = null;
let pollTimer = null;
let authNeeded = true;
/** Whether this principal may read /_sim (admins only): once refused, not asked again. */
let simReadable = true;
/** The refresh in progress: refreshes run one after the other, never interleaved. */
let refreshing = Promise.resolve();

// ---- messages ----

function notify(text) {
  const list = $("notices");
  const notice = h("li", { class: "notice" }, text);
  list.append(notice);
  setTimeout(() => notice.remove(), 6000);
}

/** Shows an error until dismissed; API errors with their code. */
function showError(context, error) {
  const code = error instanceof ApiError ? error.code : error.name;
  const item = h(
    "li",
    { class: "error" },
    h("strong", {}, context),
    ": ",
    h("code", {}, code),
    " ",
    error.message,
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"),
  );
  $("errors").append(item);
}

// ---- loading ----

async function optional(promise) {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return null;
    }
    throw error;
  }
}

/** A read of /_sim, or `fallback` for a principal that is not an admin. */
async function simRead(path, fallback) {
  if (!simReadable) {
    return fallback;
  }
  try {
    return await call("GET", path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      simReadable = false;
      showError("The clock and the backup runs are for admins only", error);
      return fallback;
    }
    throw error;
  }
}

async function loadVault(vault) {
  const [policies, items, jobs, runs] = await Promise.all([
    listAll(`${vault.id}/backupPolicies`, RS),
    listAll(`${vault.id}/backupProtectedItems`, RS),
    listAll(`${vault.id}/backupJobs`, RS),
    simRead(`/_sim${vault.id}/backupRuns`, { value: [] }),
  ]);
  const withPoints = await Promise.all(
    items.map(async (item) => ({ item, points: await listAll(`${item.id}/recoveryPoints`, RS) })),
  );
  return { vault, policies, items: withPoints, jobs, runs: runs.value };
}

async function load() {
  const [clock, subscriptions] = await Promise.all([
    simRead("/_sim/clock", { now: new Date().toISOString(), mode: "browser time" }),
    listAll("/subscriptions", API_VERSIONS.subscriptions),
  ]);
  const perSubscription = await Promise.all(
    subscriptions.map(async (sub) => {
      const base = `/subscriptions/${sub.subscriptionId}`;
      const [groups, vms, vaults] = await Promise.all([
        listAll(`${base}/resourcegroups`, API_VERSIONS.resources),
        listAll(`${base}/providers/Microsoft.Compute/virtualMachines`, API_VERSIONS.compute),
        listAll(`${base}/providers/Microsoft.RecoveryServices/vaults`, RS),
      ]);
      const [withViews, loadedVaults] = await Promise.all([
        Promise.all(
          vms.map(async (vm) => ({
            vm,
            instanceView: await optional(call("GET", withQuery(`${vm.id}/instanceView`, { "api-version": API_VERSIONS.compute }))),
          })),
        ),
        Promise.all(vaults.map(loadVault)),
      ]);
      return { groups, vms: withViews, vaults: loadedVaults };
    }),
  );
  const vaults = perSubscription.flatMap((one) => one.vaults);
  const jobs = vaults.flatMap((vault) => vault.jobs);
  jobs.sort((a, b) => Date.parse(b.properties.startTime) - Date.parse(a.properties.startTime));
  const runs = vaults.flatMap((vault) => vault.runs);
  return {
    clock,
    nowMs: Date.parse(clock.now),
    subscriptions,
    groups: perSubscription.flatMap((one) => one.groups),
    vms: perSubscription.flatMap((one) => one.vms),
    vaults,
    jobs,
    points: vaults.flatMap((vault) => vault.items.flatMap(({ item, points }) => points.map((point) => ({ item, point })))),
    schedules: new Map(runs.map((run) => [run.jobId, run])),
    expiries: new Map(
      runs.filter((run) => run.recoveryPointName).map((run) => [run.recoveryPointName, run]),
    ),
  };
}

// ---- rendering ----

function draw(panelId, key, build) {
  const json = JSON.stringify(key);
  if (drawn.get(panelId) === json) {
    return;
  }
  drawn.set(panelId, json);
  $(panelId).replaceChildren(...[build()].flat());
}

function render() {
  $("clock-now").textContent = instant(model.clock.now);
  $("clock-mode").textContent = model.clock.mode;
  if (!simReadable) {
    for (const control of document.querySelectorAll(".clock-controls button, .clock-controls input")) {
      control.disabled = true;
    }
  }
  const everything = [model.vms, model.vaults, model.subscriptions, model.groups];
  draw("inventory-body", [everything, [...ui.protectChoice]], () => inventoryView(model, ui, actions));
  draw("vaults-body", model.vaults, () => vaultsView(model, actions));
  draw("running-body", model.jobs.filter((job) => job.properties.status === "InProgress"), () => runningView(model));
  draw("timeline-body", [model.jobs, model.points.length, [...model.schedules], Math.floor(model.nowMs / 60000)], () => timelineView(model));
  draw("charts-body", [model.jobs, Math.floor(model.nowMs / 3_600_000)], () => chartsView(model));
  draw("points-body", [model.vaults.map((vault) => vault.items), [...model.expiries]], () => recoveryPointsView(model, actions));
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

function refresh() {
  refreshing = refreshing.then(refreshOnce);
  return refreshing;
}

async function refreshOnce() {
  try {
    model = await load();
    $("stale").hidden = true;
    render();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && authNeeded) {
      signOut();
      showSignIn(`Signed out: ${error.message}`);
      return;
    }
    $("stale").hidden = false;
    $("stale").textContent = `Refresh failed: ${error instanceof ApiError ? `${error.code}: ` : ""}${error.message}`;
  }
}

function startPolling() {
  stopPolling();
  const tick = async () => {
    await refresh();
    if (pollTimer !== null) {
      pollTimer = setTimeout(tick, POLL_MS);
    }
  };
  pollTimer = setTimeout(tick, 0);
}

function stopPolling() {
  if (pollTimer !== null) {
    clearTimeout(pollTimer);
  }
  pollTimer = null;
}

// ---- actions ----

/** Runs `request`, telling the user it was accepted or why not, then refreshes at once. */
async function act(description, request) {
  try {
    await request();
    notify(`${description}: accepted`);
  } catch (error) {
    showError(description, error);
  }
  await refresh();
}

const actions = {
  protect(vm, policyId) {
    const { name } = vm;
    const group = vm.id.split("/")[4];
    const vaultId = policyId.split("/backupPolicies/")[0];
    const container = `IaasVMContainer;iaasvmcontainerv2;${group};${name}`;
    const item = `VM;iaasvmcontainerv2;${group};${name}`;
    const path = `${vaultId}/backupFabrics/Azure/protectionContainers/${container}/protectedItems/${item}`;
    return act(`Protect ${name}`, () =>
      call("PUT", withQuery(path, { "api-version": RS }), {
        properties: { protectedItemType: "Microsoft.Compute/virtualMachines", sourceResourceId: vm.id, policyId },
      }),
    );
  },
  backupNow(item) {
    return act(`Back up ${item.properties.friendlyName}`, () =>
      call("POST", withQuery(`${item.id}/backup`, { "api-version": RS }), { properties: { objectType: "IaasVMBackupRequest" } }),
    );
  },
  restore(item, point) {
    const vmId = item.properties.sourceResourceId;
    const vm = model.vms.find((one) => one.vm.id.toLowerCase() === vmId.toLowerCase())?.vm;
    const account = $("restore-account").value.trim() || "devstoreaccount1";
    const group = vmId.split("/")[4];
    const subscription = vmId.split("/")[2];
    return act(`Restore ${item.properties.friendlyName} from ${instant(point.properties.recoveryPointTime)}`, () =>
      call("POST", withQuery(`${point.id}/restore`, { "api-version": RS }), {
        properties: {
          objectType: "IaasVMRestoreRequest",
          recoveryPointId: point.name,
          recoveryType: "RestoreDisks",
          sourceResourceId: vmId,
          storageAccountId: `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Storage/storageAccounts/${account}`,
          region: vm ? vm.location : undefined,
          createNewCloudService: false,
          originalStorageAccountOption: false,
        },
      }),
    );
  },
};

function setClock(mode) {
  return act(`Clock ${mode}`, () => call("PUT", "/_sim/clock", { mode, now: mode === "system" ? undefined : model?.clock.now }));
}

async function advanceClock(event) {
  event.preventDefault();
  const by = $("advance-by").value.trim();
  const button = $("advance-button");
  button.disabled = true;
  button.textContent = "Advancing…";
  try {
    const advanced = await call("POST", "/_sim/clock/advance", { by });
    notify(`Advanced by ${by}: ${advanced.steps} stops, ${advanced.backupsStarted} backups started`);
  } catch (error) {
    showError(`Advance by ${by}`, error);
  } finally {
    button.disabled = false;
    button.textContent = "Advance";
  }
  await refresh();
}

// ---- sign-in ----

function showSignIn(message) {
  stopPolling();
  $("dashboard").hidden = true;
  $("account").hidden = true;
  $("signin").hidden = false;
  $("signin-message").textContent = message || "";
  $("tenant-id").focus();
}

function showDashboard() {
  $("signin").hidden = true;
  $("dashboard").hidden = false;
  const session = currentSession();
  $("account").hidden = false;
  $("account-name").textContent = authNeeded ? `Client ${session?.clientId ?? ""}` : "No sign-in (--no-auth)";
  $("sign-out").hidden = !authNeeded;
  startPolling();
}

async function submitSignIn(event) {
  event.preventDefault();
  const button = $("signin-button");
  button.disabled = true;
  try {
    await signIn({
      tenantId: $("tenant-id").value.trim(),
      clientId: $("client-id").value.trim(),
      clientSecret: $("client-secret").value,
    });
    $("client-secret").value = "";
    showDashboard();
  } catch (error) {
    $("signin-message").textContent = `${error instanceof ApiError ? `${error.code}: ` : ""}${error.message}`;
  } finally {
    button.disabled = false;
  }
}

async function start() {
  $("signin-form").addEventListener("submit", submitSignIn);
  $("sign-out").addEventListener("click", () => {
    signOut();
    showSignIn("Signed out.");
  });
  $("clock-pin").addEventListener("click", () => setClock("pinned"));
  $("clock-run").addEventListener("click", () => setClock("running"));
  $("clock-system").addEventListener("click", () => setClock("system"));
  $("advance-form").addEventListener("submit", advanceClock);
  try {
    authNeeded = await authRequired();
  } catch (error) {
    showError("Reaching the service", error);
    return;
  }
  if (authNeeded && !currentSession()) {
    showSignIn();
  } else {
    showDashboard();
  }
}

start();
