import { createAsyncThunk, createSlice, type PayloadAction } from "@reduxjs/toolkit";
import { api } from "@/lib/api";
import type { BookTop, Feeds, Fill, TopSample, Trade } from "@/lib/types";

const HISTORY = 600; // samples per instrument kept for the price chart
const FILLS = 200;
const TRADES = 50; // per instrument

export interface InstrumentView {
  symbol: string;
  locate: number;
  top: BookTop | null;
  previous: BookTop | null; // the top before, to flash what moved
  updates: number;
  history: TopSample[];
  trades: Trade[]; // newest first
  problem: string | null;
}

interface MarketState {
  instruments: Record<string, InstrumentView>;
  bySymbolLocate: Record<number, string>;
  received: number;
  fills: Fill[];
}

export const loadMarket = createAsyncThunk("market/load", async () => {
  const feeds = await api<Feeds>("/feeds");
  const histories = await Promise.all(
    feeds.instruments.map((i) => api<TopSample[]>(`/market/${i.symbol}/tops?limit=${HISTORY}`)),
  );
  const trades = await Promise.all(
    feeds.instruments.map((i) => api<Trade[]>(`/market/${i.symbol}/trades?limit=${TRADES}`)),
  );
  const fills = await api<Fill[]>(`/market/fills?limit=${FILLS}`);
  return { feeds, histories, trades, fills };
});

export const refreshFeeds = createAsyncThunk("market/feeds", () => api<Feeds>("/feeds"));

const slice = createSlice({
  name: "market",
  initialState: { instruments: {}, bySymbolLocate: {}, received: 0, fills: [] } as MarketState,
  reducers: {
    tops(state, action: PayloadAction<BookTop[]>) {
      for (const top of action.payload) {
        const symbol = state.bySymbolLocate[top.locate];
        const inst = symbol ? state.instruments[symbol] : undefined;
        if (!inst) continue;
        inst.previous = inst.top;
        inst.top = top;
        inst.updates += 1;
        state.received += 1;
        inst.history.push({
          ts_ns: top.recv_ns ?? Date.now() * 1e6,
          bid_px: top.bid_px,
          bid_qty: top.bid_qty,
          ask_px: top.ask_px,
          ask_qty: top.ask_qty,
        });
        if (inst.history.length > HISTORY) inst.history.splice(0, inst.history.length - HISTORY);
      }
    },
    trades(state, action: PayloadAction<Trade[]>) {
      for (const trade of action.payload) {
        const inst = state.instruments[trade.symbol];
        if (!inst) continue;
        inst.trades.unshift(trade);
        if (inst.trades.length > TRADES) inst.trades.length = TRADES;
      }
    },
    fills(state, action: PayloadAction<Fill[]>) {
      state.fills = [...action.payload.slice().reverse(), ...state.fills].slice(0, FILLS);
    },
  },
  extraReducers: (b) => {
    b.addCase(loadMarket.fulfilled, (s, a) => {
      const { feeds, histories, trades, fills } = a.payload;
      s.received = feeds.book_tops_received;
      s.bySymbolLocate = {};
      feeds.instruments.forEach((i, n) => {
        s.bySymbolLocate[i.locate] = i.symbol;
        const top =
          i.bid_px === null
            ? null
            : ({
                locate: i.locate,
                seq: i.seq ?? 0,
                timestamp: 0,
                flags: i.flags ?? 0,
                bid_px: i.bid_px ?? 0,
                bid_qty: i.bid_qty ?? 0,
                ask_px: i.ask_px ?? 0,
                ask_qty: i.ask_qty ?? 0,
              } as BookTop);
        s.instruments[i.symbol] = {
          symbol: i.symbol,
          locate: i.locate,
          top,
          previous: null,
          updates: 0,
          history: histories[n],
          trades: trades[n].slice().reverse(),
          problem: i.problem,
        };
      });
      s.fills = fills.slice().reverse();
    });
    b.addCase(refreshFeeds.fulfilled, (s, a) => {
      for (const i of a.payload.instruments) {
        const inst = s.instruments[i.symbol];
        if (inst) inst.problem = i.problem;
      }
    });
  },
});

export const { tops, trades, fills } = slice.actions;
export default slice.reducer;
