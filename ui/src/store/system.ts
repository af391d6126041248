import { createAsyncThunk, createSlice, type PayloadAction } from "@reduxjs/toolkit";
import { api } from "@/lib/api";
import type { Feeds, HardwareCounters, LatencyReport, RiskStatus, SystemStatus } from "@/lib/types";

export type LinkState = "connecting" | "open" | "closed";

interface SystemState {
  risk: RiskStatus | null;
  status: SystemStatus | null;
  hardware: HardwareCounters | null;
  latency: LatencyReport | null;
  feeds: Feeds | null;
  link: LinkState;
  reconnects: number;
  everOpen: boolean;
  lastEventMs: number;
}

export const loadRisk = createAsyncThunk("system/risk", () => api<RiskStatus>("/risk"));
export const loadStatus = createAsyncThunk("system/status", () => api<SystemStatus>("/system/status"));
export const loadHardware = createAsyncThunk("system/hardware", () => api<HardwareCounters>("/system/hardware"));
export const loadLatency = createAsyncThunk("system/latency", () => api<LatencyReport>("/system/latency"));
export const loadFeeds = createAsyncThunk("system/feeds", () => api<Feeds>("/feeds"));

const slice = createSlice({
  name: "system",
  initialState: {
    risk: null,
    status: null,
    hardware: null,
    latency: null,
    feeds: null,
    link: "closed",
    reconnects: 0,
    everOpen: false,
    lastEventMs: 0,
  } as SystemState,
  reducers: {
    link(state, action: PayloadAction<LinkState>) {
      if (action.payload === "open") {
        if (state.everOpen) state.reconnects += 1;
        state.everOpen = true;
      }
      state.link = action.payload;
    },
    heard(state) {
      state.lastEventMs = Date.now();
    },
  },
  extraReducers: (b) => {
    b.addCase(loadRisk.fulfilled, (s, a) => void (s.risk = a.payload));
    b.addCase(loadStatus.fulfilled, (s, a) => void (s.status = a.payload));
    b.addCase(loadHardware.fulfilled, (s, a) => void (s.hardware = a.payload));
    b.addCase(loadLatency.fulfilled, (s, a) => void (s.latency = a.payload));
    b.addCase(loadFeeds.fulfilled, (s, a) => void (s.feeds = a.payload));
  },
});

export const { link, heard } = slice.actions;
export default slice.reducer;
