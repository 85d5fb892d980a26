// The signed-in person, as the server reports it (/api/v1/auth/me). The
// session key itself lives only in the HttpOnly cookie; the page never
// sees or stores it.
import { api, ApiError } from "./api";

export interface Me {
  id: string;
  email: string;
  name: string;
  operator: boolean;
  mfa: boolean;
  restriction?: string; // "enrol_2fa" or "change_password": the session may only finish that step
}

export const session = $state({ me: null as Me | null, loaded: false });

export async function loadMe(): Promise<Me | null> {
  try {
    session.me = await api.get<Me>("/api/v1/auth/me");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    session.me = null;
  } finally {
    session.loaded = true;
  }
  return session.me;
}

export async function signOut(): Promise<void> {
  try {
    await api.post("/api/v1/auth/logout");
  } finally {
    session.me = null;
  }
}
