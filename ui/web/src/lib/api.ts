// The one door from the page to the server: same-origin fetch with the
// session cookie (never a key in script), JSON in and out, and
// problem+json errors turned into ApiError with the server's stable code.
// State-changing requests are protected from cross-site forgery by the
// server (Sec-Fetch-Site / Origin checks); the page only ever talks to its
// own origin.

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  status: number;
  code: string;
  detail: string;
  fields: FieldError[];
  body: Record<string, unknown>;
  constructor(status: number, code: string, detail: string, fields: FieldError[], body: Record<string, unknown> = {}) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.fields = fields;
    this.body = body;
  }
}

// plainWords turns an error into a sentence for a person: the server's
// detail where it gave one, else a sentence for the code.
export function plainWords(err: unknown): string {
  if (err instanceof ApiError) {
    const words: Record<string, string> = {
      unauthorized: "Please sign in again.",
      forbidden: "You do not have the right to do that.",
      not_found: "That no longer exists, or you cannot see it.",
      conflict: "Someone else changed this at the same time. Reload to see their change.",
      rate_limited: "Too many attempts. Wait a moment and try again.",
      unavailable: "The server is busy or shutting down. Try again in a moment.",
      internal: "Something went wrong on the server. Try again; if it persists, tell your administrator.",
    };
    let msg = err.detail || words[err.code] || `The server refused (${err.status}).`;
    if (err.fields.length > 0) {
      msg += " " + err.fields.map((f) => (f.field && f.field !== "body" ? `${f.field}: ${f.message}` : f.message)).join("; ");
    }
    return msg;
  }
  if (err instanceof TypeError) return "The server cannot be reached. Check your connection.";
  if (err instanceof Error) return err.message;
  return String(err);
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

// onUnauthorized is called when a request that needed a session got 401,
// so the app can send the person to the sign-in page.
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...(opts.headers ?? {}) };
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, { method, headers, body, credentials: "same-origin", signal: opts.signal, cache: "no-store" });
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const p = (data ?? {}) as Record<string, unknown>;
    const err = new ApiError(
      res.status,
      typeof p.code === "string" ? p.code : "http_" + res.status,
      typeof p.detail === "string" ? p.detail : "",
      Array.isArray(p.errors) ? (p.errors as FieldError[]) : [],
      p,
    );
    if (res.status === 401 && onUnauthorized && !path.startsWith("/api/v1/auth/")) onUnauthorized();
    throw err;
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>("GET", path, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>("POST", path, { ...opts, body: body ?? {} }),
  patch: <T>(path: string, body: unknown, opts?: RequestOptions) => request<T>("PATCH", path, { ...opts, body }),
  put: <T>(path: string, body: unknown, opts?: RequestOptions) => request<T>("PUT", path, { ...opts, body }),
  del: <T>(path: string, opts?: RequestOptions) => request<T>("DELETE", path, opts),
};

// q builds a query string from the defined entries of params.
export function q(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
  }
  const s = u.toString();
  return s ? "?" + s : "";
}

export const enc = encodeURIComponent;
