// Shapes of the control API's JSON (control/schemas.py). Prices are ITCH integers
// (1/10000 USD) unless a field name ends in _usd.

export type Role = "viewer" | "trader" | "risk_officer" | "admin";
export type Side = "B" | "S";
export type OrderState =
  | "new"
  | "acknowledged"
  | "partially_filled"
  | "filled"
  | "cancel_pending"
  | "cancelled"
  | "rejected"
  | "expired";

export const OPEN_STATES: OrderState[] = ["new", "acknowledged", "partially_filled", "cancel_pending"];

export interface Order {
  client_order_id: string;
  symbol: string;
  side: Side;
  order_type: "limit" | "market" | "ioc";
  quantity: number;
  price: number | null;
  price_usd: string | null;
  strategy_id: string;
  state: OrderState;
  filled_quantity: number;
  leaves_quantity: number;
  average_fill_price: number | null;
  venue_order_id: string;
  reason: string;
  created_ns: number;
}

export interface Fill {
  client_order_id: string;
  execution_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  price: number;
  venue: string;
  ts_ns: number;
  liquidity: string;
}

export interface Position {
  symbol: string;
  quantity: number;
  average_price: number | null;
  mark_price: number | null;
  realised_pnl_usd: number;
  unrealised_pnl_usd: number;
  bought: number;
  sold: number;
  traded_notional: number;
}

export interface Account {
  account_id: string;
  realised_pnl_usd: number;
  unrealised_pnl_usd: number;
  gross_exposure_usd: number;
  open_orders: number;
  positions: Position[];
}

export interface PnlPoint {
  ts_ns: number;
  realised_usd: number;
  unrealised_usd: number;
}

export interface Breaker {
  name: string;
  tripped: boolean;
  reason: string;
  tripped_ns: number;
}

export type TradingState = "active" | "reducing_only" | "halted";

export interface RiskStatus {
  state: TradingState;
  kill_switch: boolean;
  breakers: Breaker[];
  limits: Record<string, number | Record<string, number>>;
  checked: number;
  approved: number;
  rejected: number;
  cancels_sent: number;
  reject_reasons: Record<string, number>;
}

export interface Strategy {
  strategy_id: string;
  kind: string;
  running: boolean;
  params: Record<string, unknown>;
  intents: number;
  rejected_intents: number;
  last_error: string;
  open_orders: number;
}

export interface JsonSchemaProperty {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  enum?: string[];
  anyOf?: JsonSchemaProperty[];
}

export interface StrategyKind {
  kind: string;
  params_schema: { properties?: Record<string, JsonSchemaProperty>; required?: string[] };
}

export interface BookTop {
  locate: number;
  seq: number;
  timestamp: number;
  flags: number;
  bid_px: number;
  bid_qty: number;
  ask_px: number;
  ask_qty: number;
  recv_ns?: number;
}

export interface FeedInstrument {
  symbol: string;
  locate: number;
  bid_px: number | null;
  bid_qty: number | null;
  ask_px: number | null;
  ask_qty: number | null;
  seq: number | null;
  flags: number | null;
  sequence_gap: boolean;
  problem: string | null;
}

export interface Feeds {
  book_tops_received: number;
  instruments: FeedInstrument[];
}

export interface SystemStatus {
  version: string;
  venue: string;
  uptime_s: number;
  trading_state: TradingState;
  next_venue_sequence: number;
  orders: number;
  open_orders: number;
  anomalies: Record<string, number>;
  last_anomaly: string;
  websocket_clients: number;
  events_dropped: number;
}

export interface HardwareCounters {
  engine: string;
  attached: boolean;
  counters: Record<string, number | null>;
}

export interface LatencyQuantiles {
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
  count: number;
}

export interface LatencyReport {
  available: boolean;
  source: string;
  command: string;
  date: string;
  engines: { name: string; label: string; latency_ns: LatencyQuantiles }[];
  live_feed: { source: string; samples: number; p50_ns: number; p99_ns: number; max_ns: number } | null;
}

export interface TopSample {
  ts_ns: number;
  bid_px: number;
  bid_qty: number;
  ask_px: number;
  ask_qty: number;
}

// One /ws/events "orders" message (velocimex.domain.event_to_dict).
export interface OrderEvent {
  kind: string;
  client_order_id: string;
  ts_ns: number;
  order?: {
    client_order_id: string;
    symbol: string;
    side: Side;
    quantity: number;
    order_type: Order["order_type"];
    price: number | null;
    strategy_id: string;
    created_ns: number;
  };
  fill?: Fill;
  venue_order_id?: string;
  filled_quantity?: number;
  leaves_quantity?: number;
  reason?: string;
}

// A trade printed on the venue's feed (velocimex.domain.Trade): market volume, not our fill.
export interface Trade {
  symbol: string;
  quantity: number;
  price: number;
  timestamp: number; // ITCH nanoseconds since midnight
  venue: string;
  match_number: number;
}
