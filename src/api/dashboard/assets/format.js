// Small pure helpers: building DOM nodes (never from HTML strings, so nothing the API
// returns can become markup), and formatting times, durations and sizes.

/** An element: `h("td", {class: "num"}, "12", otherNode)`. Attributes starting with `on`
 *  are event listeners; `null`/`false` children and attributes are skipped. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element, as `h`. */
export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An RFC 3339 instant as `2026-12-06 14:03:21` (UTC, the service's clock is UTC). */
export function instant(value) {
  if (!value) {
    return "—";
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    return value;
  }
  return date.toISOString().replace("T", " ").slice(0, 19);
}

/** Milliseconds in an ISO 8601 duration as ARM writes them (`PT41M12.684856S`, `P1DT2H`). */
export function durationMs(iso) {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$/.exec(iso || "");
  if (!match) {
    return null;
  }
  const [, d, hr, min, sec] = match.map((part) => Number(part || 0));
  return (((d * 24 + hr) * 60 + min) * 60 + sec) * 1000;
}

/** A duration in milliseconds for people: `350 ms`, `4.2 s`, `3 min 12 s`, `2 h 5 min`. */
export function humanDuration(ms) {
  if (ms === null || ms === undefined) {
    return "—";
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const seconds = ms / 1000;
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds % 60)} s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    return `${hours} h ${minutes % 60} min`;
  }
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A byte count for people: `0 B`, `512 KiB`, `1.5 GiB`. */
export function bytes(count) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(count) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The parts of an ARM id: `{subscription, resourceGroup, name}` and its path segments. */
export function armId(id) {
  const parts = id.split("/");
  const at = (key) => {
    const index = parts.findIndex((part) => part.toLowerCase() === key);
    return index >= 0 ? parts[index + 1] : undefined;
  };
  return {
    subscription: at("subscriptions"),
    resourceGroup: at("resourcegroups"),
    name: parts[parts.length - 1],
  };
}

/** A status as a CSS class suffix: `Completed` → `completed`, `InProgress` → `inprogress`. */
export function statusClass(status) {
  return String(status || "unknown").toLowerCase().replace(/[^a-z]/g, "");
}
