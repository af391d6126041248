import { useMemo, useState } from "react";
import { useAppSelector } from "@/store";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { Badge } from "@/components/ui/badge";
import { TimeChart } from "@/charts/TimeChart";
import { OrderTicket } from "@/components/OrderTicket";
import { FillsTable } from "@/components/FillsTable";
import { clock, px, qty } from "@/lib/format";
import { OPEN_STATES, type Order } from "@/lib/types";
import { cn } from "@/lib/utils";
import type { InstrumentView } from "@/store/market";

const LADDER_ROWS = 8; // price rows each side of the touch
const TICK = 100; // one cent in ITCH units: the ladder's row spacing
const FLAG_SEQ_GAP = 0x0001;

export function MarketView() {
  const instruments = useAppSelector((s) => s.market.instruments);
  const symbols = Object.keys(instruments).sort();
  const [chosen, setChosen] = useState<string | null>(null);
  const symbol = chosen && instruments[chosen] ? chosen : symbols[0];
  const inst = symbol ? instruments[symbol] : undefined;
  return (
    <div className="grid gap-4">
      <Card>
        <CardHeader>
          <CardTitle>Top of book</CardTitle>
          <span className="text-xs text-muted-foreground">click or Enter on a row to open its ladder</span>
        </CardHeader>
        <CardContent>
          <Table aria-label="top of book">
            <THead>
              <TR>
                <TH>symbol</TH>
                <TH className="text-right">bid qty</TH>
                <TH className="text-right">bid</TH>
                <TH className="text-right">ask</TH>
                <TH className="text-right">ask qty</TH>
                <TH className="text-right">spread</TH>
                <TH className="text-right">seq</TH>
                <TH className="text-right">updates</TH>
                <TH>data</TH>
              </TR>
            </THead>
            <TBody>
              {symbols.map((s) => (
                <TopRow key={s} inst={instruments[s]} selected={s === symbol} onSelect={() => setChosen(s)} />
              ))}
            </TBody>
          </Table>
        </CardContent>
      </Card>
      {inst && (
        <div className="grid gap-4 xl:grid-cols-[minmax(320px,380px)_1fr]">
          <Ladder inst={inst} />
          <div className="grid gap-4">
            <PriceChart inst={inst} />
            <div className="grid gap-4 lg:grid-cols-3">
              <Card>
                <CardHeader>
                  <CardTitle>Last trades</CardTitle>
                  <span className="text-xs text-muted-foreground">prints on the feed</span>
                </CardHeader>
                <CardContent>
                  <TradesTable inst={inst} />
                </CardContent>
              </Card>
              <Card>
                <CardHeader>
                  <CardTitle>Our last fills</CardTitle>
                </CardHeader>
                <CardContent>
                  <FillsTable symbol={inst.symbol} limit={10} compact />
                </CardContent>
              </Card>
              <OrderTicket symbol={inst.symbol} top={inst.top} />
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

function TopRow({ inst, selected, onSelect }: { inst: InstrumentView; selected: boolean; onSelect: () => void }) {
  const t = inst.top;
  const p = inst.previous;
  const moved = (a?: number, b?: number) => (p && a !== b ? "text-primary" : "");
  const gap = t ? (t.flags & FLAG_SEQ_GAP) !== 0 : false;
  return (
    <TR
      data-testid={`top-${inst.symbol}`}
      tabIndex={0}
      aria-selected={selected}
      onClick={onSelect}
      onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && onSelect()}
      className={cn("cursor-pointer font-mono focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring", selected && "bg-secondary/60")}
    >
      <TD className="font-sans font-semibold">{inst.symbol}</TD>
      <TD className={cn("text-right", moved(t?.bid_qty, p?.bid_qty))}>{qty(t?.bid_qty)}</TD>
      <TD className="text-right text-bid" data-testid={`bid-${inst.symbol}`}>
        {px(t?.bid_px)}
      </TD>
      <TD className="text-right text-ask" data-testid={`ask-${inst.symbol}`}>
        {px(t?.ask_px)}
      </TD>
      <TD className={cn("text-right", moved(t?.ask_qty, p?.ask_qty))}>{qty(t?.ask_qty)}</TD>
      <TD className="text-right">{t && t.bid_px && t.ask_px ? px(t.ask_px - t.bid_px) : "—"}</TD>
      <TD className="text-right" data-testid={`seq-${inst.symbol}`}>
        {t?.seq ?? "—"}
      </TD>
      <TD className="text-right">{inst.updates}</TD>
      <TD>
        {gap ? <Badge variant="bad">seq gap</Badge> : inst.problem ? <Badge variant="warn">{inst.problem}</Badge> : <Badge variant="good">ok</Badge>}
      </TD>
    </TR>
  );
}

function Ladder({ inst }: { inst: InstrumentView }) {
  const orders = useAppSelector((s) => s.trading.orders);
  const t = inst.top;
  // Our working quantity per price and side, from the blotter.
  const working = useMemo(() => {
    const out = new Map<string, number>();
    for (const o of orders as Order[]) {
      if (o.symbol !== inst.symbol || !OPEN_STATES.includes(o.state) || o.price === null) continue;
      const key = `${o.side}${o.price}`;
      out.set(key, (out.get(key) ?? 0) + o.leaves_quantity);
    }
    return out;
  }, [orders, inst.symbol]);
  const rows = useMemo(() => {
    if (!t || (!t.bid_px && !t.ask_px)) return [];
    const bid = t.bid_px || t.ask_px - TICK;
    const ask = t.ask_px || t.bid_px + TICK;
    const topPrice = Math.ceil(ask / TICK) * TICK + (LADDER_ROWS - 1) * TICK;
    const bottom = Math.floor(bid / TICK) * TICK - (LADDER_ROWS - 1) * TICK;
    const prices = new Set<number>([t.bid_px, t.ask_px].filter(Boolean));
    for (let p = topPrice; p >= bottom; p -= TICK) prices.add(p);
    for (const key of working.keys()) {
      const p = Number(key.slice(1));
      if (p <= topPrice && p >= bottom) prices.add(p);
    }
    return [...prices].sort((a, b) => b - a);
  }, [t, working]);
  return (
    <Card>
      <CardHeader>
        <CardTitle>{inst.symbol} ladder</CardTitle>
        <span className="text-xs text-muted-foreground">seq {t?.seq ?? "—"}</span>
      </CardHeader>
      <CardContent>
        <Table aria-label={`${inst.symbol} depth ladder`} data-testid="ladder">
          <THead>
            <TR>
              <TH className="text-right">my bids</TH>
              <TH className="text-right">bid qty</TH>
              <TH className="text-center">price</TH>
              <TH className="text-left">ask qty</TH>
              <TH className="text-left">my asks</TH>
            </TR>
          </THead>
          <TBody>
            {rows.map((p) => {
              const isBid = t && p === t.bid_px;
              const isAsk = t && p === t.ask_px;
              const myBid = working.get(`B${p}`);
              const myAsk = working.get(`S${p}`);
              const inside = t && p > t.bid_px && p < t.ask_px;
              return (
                <TR key={p} className={cn("font-mono", inside && "bg-muted/30")}>
                  <TD className="text-right text-bid">{myBid ? qty(myBid) : ""}</TD>
                  <TD className={cn("text-right", isBid && "bg-bid/25 font-semibold text-bid")}>{isBid ? qty(t!.bid_qty) : ""}</TD>
                  <TD className={cn("text-center", isBid && "text-bid", isAsk && "text-ask")}>{px(p, p % TICK ? 4 : 2)}</TD>
                  <TD className={cn("text-left", isAsk && "bg-ask/25 font-semibold text-ask")}>{isAsk ? qty(t!.ask_qty) : ""}</TD>
                  <TD className="text-left text-ask">{myAsk ? qty(myAsk) : ""}</TD>
                </TR>
              );
            })}
          </TBody>
        </Table>
        <p className="mt-2 text-xs text-muted-foreground">
          The feed publishes the top of book (book_contract records): the touch shows the market's size, other rows our own
          working orders.
        </p>
      </CardContent>
    </Card>
  );
}

function PriceChart({ inst }: { inst: InstrumentView }) {
  const series = useMemo(() => {
    const h = inst.history.filter((s) => s.bid_px && s.ask_px);
    const pts = (f: (s: (typeof h)[number]) => number) => h.map((s) => ({ t: s.ts_ns / 1e6, v: f(s) / 10_000 }));
    return [
      { name: "bid", color: "hsl(142 70% 45%)", points: pts((s) => s.bid_px), step: true },
      { name: "ask", color: "hsl(0 84% 60%)", points: pts((s) => s.ask_px), step: true },
      { name: "mid", color: "hsl(199 89% 60%)", points: pts((s) => (s.bid_px + s.ask_px) / 2) },
    ];
  }, [inst.history]);
  const last = inst.history[inst.history.length - 1];
  return (
    <Card>
      <CardHeader>
        <CardTitle>{inst.symbol} price</CardTitle>
        <span className="text-xs text-muted-foreground">{last ? `last update ${clock(last.ts_ns)} UTC` : ""}</span>
      </CardHeader>
      <CardContent>
        <TimeChart series={series} label={`${inst.symbol} bid, ask and mid`} format={(v) => v.toFixed(2)} />
      </CardContent>
    </Card>
  );
}

function TradesTable({ inst }: { inst: InstrumentView }) {
  const rows = inst.trades.slice(0, 10);
  if (!rows.length) return <p className="text-sm text-muted-foreground">No trades printed yet.</p>;
  return (
    <Table aria-label={`${inst.symbol} trades`} data-testid="trades">
      <THead>
        <TR>
          <TH>time</TH>
          <TH className="text-right">qty</TH>
          <TH className="text-right">price</TH>
        </TR>
      </THead>
      <TBody>
        {rows.map((t) => (
          <TR key={`${t.venue}-${t.match_number}-${t.timestamp}`} className="font-mono">
            <TD>{clock(t.timestamp)}</TD>
            <TD className="text-right">{qty(t.quantity)}</TD>
            <TD className="text-right">{px(t.price)}</TD>
          </TR>
        ))}
      </TBody>
    </Table>
  );
}
