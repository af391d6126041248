// The live link: /ws/events with the token as the ["bearer", TOKEN] subprotocol pair, batched
// into the store, reconnecting with backoff. After every (re)connect the REST state is reloaded,
// since events sent while the link was down are not replayed.
import type { AppDispatch } from "@/store";
import { logout } from "@/store/auth";
import { api } from "./api";
import { fills, loadMarket, tops, trades } from "@/store/market";
import { heard, link, loadRisk } from "@/store/system";
import { loadAccount, loadOrders, loadPnl, loadStrategies, orderEvents, pnlPoint } from "@/store/trading";
import type { BookTop, Fill, OrderEvent, Trade } from "./types";

const FLUSH_MS = 100; // at most ten store updates a second, however fast the feed ticks
const KEEPALIVE_MS = 20_000;
const BACKOFF_MS = [250, 500, 1000, 2000, 5000];
const POLICY_VIOLATION = 1008; // what /ws/events closes with for a bad token

interface Message {
  channel: string;
  event: Record<string, unknown>;
}

export function reloadAll(dispatch: AppDispatch): void {
  dispatch(loadMarket());
  dispatch(loadOrders());
  dispatch(loadStrategies());
  dispatch(loadAccount());
  dispatch(loadPnl());
  dispatch(loadRisk());
}

type Resource = "orders" | "account" | "strategies" | "risk";
// Events mark REST resources stale; each is refetched at most this often. The API allows a
// user 1,200 requests a minute (settings.rate_limit_per_minute): this keeps one page under a
// third of that however busy the market, leaving room for actions and a second tab.
const REFRESH_MS: Record<Resource, number> = { orders: 500, account: 1000, strategies: 1000, risk: 1000 };
const REFRESH: [Resource, (dispatch: AppDispatch) => unknown][] = [
  ["orders", (d) => d(loadOrders())],
  ["account", (d) => d(loadAccount())],
  ["strategies", (d) => d(loadStrategies())],
  ["risk", (d) => d(loadRisk())],
];
const MARKET_RETRY_MS = 2000;

export function connectLive(token: string, dispatch: AppDispatch, loaded: () => boolean): () => void {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let stopped = false;
  let retry: number | undefined;
  let keepalive: number | undefined;
  let pendingTops: BookTop[] = [];
  let pendingFills: Fill[] = [];
  let pendingOrders: OrderEvent[] = [];
  let pendingTrades: Trade[] = [];
  const dirty: Record<Resource, boolean> = { orders: false, account: false, strategies: false, risk: false };
  const refreshed: Record<Resource, number> = { orders: 0, account: 0, strategies: 0, risk: 0 };
  let lastMarketTry = Date.now();

  const flush = window.setInterval(() => {
    if (pendingTops.length) {
      dispatch(tops(pendingTops));
      pendingTops = [];
    }
    if (pendingTrades.length) {
      dispatch(trades(pendingTrades));
      pendingTrades = [];
    }
    if (pendingOrders.length) {
      dispatch(orderEvents(pendingOrders));
      pendingOrders = [];
    }
    if (pendingFills.length) {
      dispatch(fills(pendingFills));
      pendingFills = [];
    }
    const now = Date.now();
    for (const [name, load] of REFRESH) {
      if (dirty[name] && now - refreshed[name] >= REFRESH_MS[name]) {
        dirty[name] = false;
        refreshed[name] = now;
        load(dispatch);
      }
    }
    // The initial load can fail (a 429 while the server is busy, a restart): keep trying.
    if (socket?.readyState === WebSocket.OPEN && !loaded() && now - lastMarketTry >= MARKET_RETRY_MS) {
      lastMarketTry = now;
      dispatch(loadMarket());
    }
  }, FLUSH_MS);

  function onMessage(raw: MessageEvent) {
    let msg: Message;
    try {
      msg = JSON.parse(raw.data);
    } catch {
      return;
    }
    dispatch(heard());
    switch (msg.channel) {
      case "market":
        pendingTops.push({ ...(msg.event as unknown as BookTop), recv_ns: Date.now() * 1e6 });
        break;
      case "trades":
        pendingTrades.push(msg.event as unknown as Trade);
        break;
      case "orders":
        pendingOrders.push(msg.event as unknown as OrderEvent);
        dirty.orders = dirty.strategies = true;
        // Each accepted execution reaches listeners as exactly one partially_filled or filled event.
        if ((msg.event.kind === "filled" || msg.event.kind === "partially_filled") && msg.event.fill) {
          pendingFills.push(msg.event.fill as Fill);
          dirty.account = true;
        }
        break;
      case "risk":
        dirty.risk = true; // counters move with every check too
        if (msg.event.action === "kill_switch") dirty.strategies = true;
        break;
      case "pnl":
        dispatch(pnlPoint(msg.event as never));
        dirty.account = true;
        break;
    }
  }

  function open() {
    if (stopped) return;
    dispatch(link("connecting"));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/events`, ["bearer", token]);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      attempt = 0;
      dispatch(link("open"));
      reloadAll(dispatch);
      keepalive = window.setInterval(() => socket?.send("ping"), KEEPALIVE_MS);
    };
    socket.onmessage = onMessage;
    socket.onclose = (event) => {
      window.clearInterval(keepalive);
      dispatch(link("closed"));
      if (stopped) return;
      if (event.code === POLICY_VIOLATION) {
        // The server refused the token (expired, or the secret changed): retrying cannot help.
        dispatch(logout());
        return;
      }
      // A refused handshake reaches the browser as a bare 1006: ask the API whether the token
      // still holds (a 401 logs out through the API client, which ends this loop).
      if (!opened) api("/auth/me").catch(() => undefined);
      retry = window.setTimeout(open, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]);
      attempt += 1;
    };
  }

  open();
  return () => {
    stopped = true;
    window.clearInterval(flush);
    window.clearInterval(keepalive);
    window.clearTimeout(retry);
    socket?.close();
  };
}
