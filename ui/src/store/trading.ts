import { createAsyncThunk, createSlice, type PayloadAction } from "@reduxjs/toolkit";
import { api } from "@/lib/api";
import { OPEN_STATES, type Account, type Order, type OrderEvent, type PnlPoint, type Strategy, type StrategyKind } from "@/lib/types";

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
    // Order events applied as they arrive, so the blotter never lags the fills panel; the
    // throttled refetch of /orders (lib/live.ts) reconciles anything not modelled here
    // (average price, replaces, cancel rejects).
    orderEvents(state, action: PayloadAction<OrderEvent[]>) {
      for (const ev of action.payload) {
        let order = state.orders.find((o) => o.client_order_id === ev.client_order_id);
        if (ev.kind === "submitted" && ev.order && !order) {
          const o = ev.order;
          state.orders.unshift({
            client_order_id: o.client_order_id,
            symbol: o.symbol,
            side: o.side,
            order_type: o.order_type,
            quantity: o.quantity,
            price: o.price,
            price_usd: o.price === null ? null : (o.price / 10_000).toFixed(4),
            strategy_id: o.strategy_id,
            state: "new",
            filled_quantity: 0,
            leaves_quantity: o.quantity,
            average_fill_price: null,
            venue_order_id: "",
            reason: "",
            created_ns: o.created_ns,
          });
          continue;
        }
        if (!order) continue;
        order = order as Order;
        switch (ev.kind) {
          case "accepted":
            if (order.state === "new") order.state = "acknowledged";
            if (ev.venue_order_id) order.venue_order_id = ev.venue_order_id;
            break;
          case "partially_filled":
            order.filled_quantity = ev.filled_quantity ?? order.filled_quantity;
            order.leaves_quantity = ev.leaves_quantity ?? order.leaves_quantity;
            if (order.state !== "cancel_pending") order.state = "partially_filled";
            break;
          case "filled":
            order.filled_quantity = ev.filled_quantity ?? order.quantity;
            order.leaves_quantity = 0;
            order.state = "filled";
            break;
          case "cancel_requested":
            if (OPEN_STATES.includes(order.state)) order.state = "cancel_pending";
            break;
          case "cancelled":
            order.state = "cancelled";
            order.leaves_quantity = 0;
            order.reason = ev.reason ?? order.reason;
            break;
          case "rejected":
            order.state = "rejected";
            order.reason = ev.reason ?? order.reason;
            break;
        }
      }
    },
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

export const { orderEvents, pnlPoint } = slice.actions;
export default slice.reducer;
