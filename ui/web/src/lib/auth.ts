// Helpers of the sign-in screens: where to go after signing in, field
// errors from problem+json, reading a token from the address bar's
// fragment, and the passkey ceremony (WebAuthn JSON ↔ browser objects).
import { ApiError, plainWords } from "./api";

// safeNext returns next when it is a path of this site ("/…", not "//…"
// nor "/\…", which browsers read as another host), else "/".
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  try {
    const u = new URL(next, location.origin);
    if (u.origin !== location.origin) return "/";
    return u.pathname + u.search + u.hash;
  } catch {
    return "/";
  }
}

// fieldErrors maps the server's per-field problems to messages by field;
// anything else goes under "" (the form's own message).
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (err instanceof ApiError && err.fields.length > 0) {
    for (const f of err.fields) {
      const k = f.field || "";
      const msg = sentence(f.message) + (/[.!?]$/.test(f.message) ? "" : ".");
      out[k] = out[k] ? out[k] + " " + msg : msg;
    }
    if (err.detail && !out[""]) out[""] = sentence(err.detail) + ".";
    return out;
  }
  out[""] = plainWords(err);
  return out;
}

// sentence starts text with a capital letter.
export function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// takeFragmentToken reads #token=… from the address and removes the
// fragment from the address bar (and from history), so the secret is not
// left on screen, in bookmarks or in the history list.
export function takeFragmentToken(): string {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token") ?? "";
  if (location.hash) history.replaceState(history.state, "", location.pathname + location.search);
  return token;
}

// signInWords says what went wrong in plain words; a 429 says how long
// to wait when the server told.
export function signInWords(err: unknown): string {
  if (err instanceof ApiError && err.status === 429) {
    const m = /try again in (\d+) seconds/.exec(err.detail);
    if (!m) return "Too many attempts. Wait a moment and try again.";
    const secs = Number(m[1]);
    const wait = secs < 90 ? `${secs} seconds` : `${Math.ceil(secs / 60)} minutes`;
    return `Too many attempts. Try again in ${wait}.`;
  }
  return plainWords(err);
}

// ---- passkeys

function fromB64url(s: string): ArrayBuffer {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function toB64url(buf: ArrayBuffer | null): string | undefined {
  if (!buf) return undefined;
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

interface RequestOptionsJSON {
  publicKey: {
    challenge: string;
    timeout?: number;
    rpId?: string;
    userVerification?: UserVerificationRequirement;
    allowCredentials?: { type: "public-key"; id: string; transports?: AuthenticatorTransport[] }[];
  };
}

export function passkeysSupported(): boolean {
  return typeof window.PublicKeyCredential !== "undefined" && !!navigator.credentials;
}

// getAssertion asks the browser for a passkey answering the server's
// request options, and returns the assertion as the server's JSON.
export async function getAssertion(options: RequestOptionsJSON): Promise<unknown> {
  const pk = options.publicKey;
  const cred = (await navigator.credentials.get({
    publicKey: {
      challenge: fromB64url(pk.challenge),
      timeout: pk.timeout,
      rpId: pk.rpId,
      userVerification: pk.userVerification,
      allowCredentials: (pk.allowCredentials ?? []).map((c) => ({ type: c.type, id: fromB64url(c.id), transports: c.transports })),
    },
  })) as PublicKeyCredential | null;
  if (!cred) throw new Error("No passkey was chosen.");
  const r = cred.response as AuthenticatorAssertionResponse;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: toB64url(r.userHandle),
    },
  };
}

// ssoWords explains the word a refused single sign-on brings back
// (/login?sso=…).
export function ssoWords(word: string | null): string {
  switch (word) {
    case null:
    case "":
      return "";
    case "not_linked":
      return "Single sign-on could not sign you in: an account with your e-mail exists but is not linked to this provider. Sign in with your password, then link the provider from your account.";
    case "unavailable":
      return "Single sign-on could not reach your identity provider. Try again in a moment.";
    case "rate_limited":
      return "Too many attempts. Wait a moment and try again.";
    default:
      return "Single sign-on did not sign you in. Try again, or sign in with your password.";
  }
}
