import { createAsyncThunk, createSlice } from "@reduxjs/toolkit";
import { api } from "@/lib/api";
import type { Account, Order, PnlPoint, Strategy, StrategyKind } from "@/lib/types";

const PNL_POINTS = 3600;

interface TradingState {
  orders: Order[];
  strategies: Strategy[];
  kinds: StrategyKind[];
  account: Account | null;
  pnl: PnlPoint[];
}

export const loadOrders = createAsyncThunk("trading/orders", () => api<Order[]>("/orders?limit=1000"));
export const loadStrategies = createAsyncThunk("trading/strategies", () => api<Strategy[]>("/strategies"));
export const loadKinds = createAsyncThunk("trading/kinds", () => api<StrategyKind[]>("/strategies/kinds"));
export const loadAccount = createAsyncThunk("trading/account", () => api<Account>("/positions/account"));
export const loadPnl = createAsyncThunk("trading/pnl", () =>
  api<PnlPoint[]>(`/positions/pnl-history?limit=${PNL_POINTS}`),
);

const slice = createSlice({
  name: "trading",
  initialState: { orders: [], strategies: [], kinds: [], account: null, pnl: [] } as TradingState,
  reducers: {
    pnlPoint(state, action: { payload: PnlPoint }) {
      state.pnl.push(action.payload);
      if (state.pnl.length > PNL_POINTS) state.pnl.splice(0, state.pnl.length - PNL_POINTS);
    },
  },
  extraReducers: (b) => {
    b.addCase(loadOrders.fulfilled, (s, a) => void (s.orders = a.payload));
    b.addCase(loadStrategies.fulfilled, (s, a) => void (s.strategies = a.payload));
    b.addCase(loadKinds.fulfilled, (s, a) => void (s.kinds = a.payload));
    b.addCase(loadAccount.fulfilled, (s, a) => void (s.account = a.payload));
    b.addCase(loadPnl.fulfilled, (s, a) => void (s.pnl = a.payload));
  },
});

export const { pnlPoint } = slice.actions;
export default slice.reducer;
