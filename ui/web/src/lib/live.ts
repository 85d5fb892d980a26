// Live updates of one table: the server's event stream
// (GET /api/v1/notebooks/{nb}/tables/{table}/events, server-sent events,
// same origin, the session cookie). The server reads every record again as
// the caller before sending it (hidden columns absent, masked cells null,
// invisible records never mentioned), so the page only applies what comes:
//
//   event: create / update   data: a record, as the caller reads it
//   event: delete            data: {"id": "..."} (only to callers who see every row)
//   event: end               data: "why the stream ended"
//   ": heartbeat" comments while idle (EventSource ignores them)
//
// The stream is opened again after a drop, with a growing delay (1 s up to
// 30 s); after a reopen the page is told to resync, since events may have
// been missed. close() stops it for good (leaving the page).

import { api, enc } from "./api";
import type { RecordT } from "./types";

export interface LiveHandlers {
  upsert(rec: RecordT, op: "create" | "update"): void;
  remove(id: string): void;
  // resync reloads what is shown: the stream was down and may have missed events.
  resync(): void;
  // status reports the stream's state for the page's indicator.
  status?(s: LiveStatus, reason?: string): void;
}

export type LiveStatus = "connecting" | "live" | "retrying" | "stopped";

// Reasons of an "end" event after which opening again is pointless.
const final = ["the session has ended", "the session is restricted", "the table is no longer visible to you"];

export interface Live {
  close(): void;
}

export function openLive(notebook: string, table: string, h: LiveHandlers, opts: { minDelay?: number; maxDelay?: number } = {}): Live {
  const url = `/api/v1/notebooks/${enc(notebook)}/tables/${enc(table)}/events`;
  const minDelay = opts.minDelay ?? 1000;
  const maxDelay = opts.maxDelay ?? 30000;
  let es: EventSource | null = null;
  let closed = false;
  let delay = minDelay;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let opened = false; // opened once already: a later open must resync

  const status = (s: LiveStatus, reason?: string) => h.status?.(s, reason);

  function parse(e: MessageEvent): unknown {
    try {
      return JSON.parse(e.data as string);
    } catch {
      return null;
    }
  }

  function connect() {
    if (closed) return;
    status("connecting");
    const src = new EventSource(url);
    es = src;
    src.onopen = () => {
      delay = minDelay;
      status("live");
      if (opened) h.resync();
      opened = true;
    };
    src.addEventListener("create", (e) => {
      const r = parse(e as MessageEvent) as RecordT | null;
      if (r && typeof r.id === "string") h.upsert(r, "create");
    });
    src.addEventListener("update", (e) => {
      const r = parse(e as MessageEvent) as RecordT | null;
      if (r && typeof r.id === "string") h.upsert(r, "update");
    });
    src.addEventListener("delete", (e) => {
      const r = parse(e as MessageEvent) as { id?: unknown } | null;
      if (r && typeof r.id === "string") h.remove(r.id);
    });
    src.addEventListener("end", (e) => {
      const reason = String(parse(e as MessageEvent) ?? "");
      src.close();
      if (es === src) es = null;
      if (final.includes(reason)) {
        closed = true;
        status("stopped", reason);
        if (reason === "the session has ended") void api.get("/api/v1/auth/me").catch(() => {}); // lets the app send the person to sign in
        return;
      }
      retry(reason);
    });
    src.onerror = () => {
      // EventSource retries a dropped connection by itself (CONNECTING);
      // a refused one (401, 404, 429) is CLOSED for good: open it again
      // ourselves, after asking who we are (a 401 sends the person to sign in).
      if (src.readyState === EventSource.CLOSED) {
        if (es === src) es = null;
        void api.get("/api/v1/auth/me").then(
          () => retry(),
          () => {
            closed = true;
            status("stopped", "signed out");
          },
        );
      } else {
        status("retrying");
      }
    };
  }

  function retry(reason?: string) {
    if (closed) return;
    status("retrying", reason);
    if (timer) clearTimeout(timer);
    // a little jitter so that many pages do not come back at once
    timer = setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
    delay = Math.min(delay * 2, maxDelay);
  }

  function close() {
    closed = true;
    if (timer) clearTimeout(timer);
    es?.close();
    es = null;
    status("stopped");
  }

  connect();
  return { close };
}

// changedFields names the fields whose values differ between two versions
// of a record (what to flash).
export function changedFields(before: RecordT | undefined, after: RecordT): string[] {
  if (!before) return Object.keys(after.fields);
  const names = new Set([...Object.keys(before.fields), ...Object.keys(after.fields)]);
  return [...names].filter((n) => JSON.stringify(before.fields[n]) !== JSON.stringify(after.fields[n]));
}
