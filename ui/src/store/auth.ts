import { createAsyncThunk, createSlice } from "@reduxjs/toolkit";
import { api, setToken } from "@/lib/api";
import type { Role } from "@/lib/types";

interface AuthState {
  token: string | null;
  username: string | null;
  role: Role | null;
  error: string | null;
  pending: boolean;
}

// sessionStorage: a reload keeps the session, a new tab or browser restart asks again.
const KEY = "velocimex.session";
function restore(): AuthState {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    if (saved?.token) {
      setToken(saved.token);
      return { token: saved.token, username: saved.username, role: saved.role, error: null, pending: false };
    }
  } catch {
    /* a damaged entry means logged out */
  }
  return { token: null, username: null, role: null, error: null, pending: false };
}

export const login = createAsyncThunk(
  "auth/login",
  async ({ username, password }: { username: string; password: string }) => {
    const out = await api<{ access_token: string; role: Role }>("/auth/token", {
      body: { username, password },
    });
    return { token: out.access_token, role: out.role, username };
  },
);

const slice = createSlice({
  name: "auth",
  initialState: restore,
  reducers: {
    logout(state) {
      state.token = state.username = state.role = null;
      setToken(null);
      sessionStorage.removeItem(KEY);
    },
  },
  extraReducers: (b) => {
    b.addCase(login.pending, (s) => {
      s.pending = true;
      s.error = null;
    });
    b.addCase(login.fulfilled, (s, a) => {
      Object.assign(s, a.payload, { pending: false, error: null });
      setToken(a.payload.token);
      sessionStorage.setItem(KEY, JSON.stringify(a.payload));
    });
    b.addCase(login.rejected, (s, a) => {
      s.pending = false;
      s.error = a.error.message ?? "login failed";
    });
  },
});

export const { logout } = slice.actions;
export default slice.reducer;
