import { useMemo, useState } from "react";
import { useAppDispatch, useAppSelector } from "@/store";
import { api } from "@/lib/api";
import { can } from "@/lib/roles";
import { clock, px, qty } from "@/lib/format";
import { OPEN_STATES, type OrderState } from "@/lib/types";
import { loadOrders } from "@/store/trading";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { Button } from "@/components/ui/button";
import { Badge } from "@/components/ui/badge";
import { Input, Select } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { FillsTable } from "@/components/FillsTable";

const STATE_FILTERS = ["all", "open", "filled", "partially_filled", "cancelled", "rejected"] as const;

function stateVariant(s: OrderState) {
  if (s === "filled") return "good" as const;
  if (s === "rejected" || s === "expired") return "bad" as const;
  if (s === "cancelled") return "muted" as const;
  if (s === "partially_filled" || s === "cancel_pending") return "warn" as const;
  return "default" as const;
}

export function OrdersView() {
  const orders = useAppSelector((s) => s.trading.orders);
  const role = useAppSelector((s) => s.auth.role);
  const dispatch = useAppDispatch();
  const [state, setState] = useState<(typeof STATE_FILTERS)[number]>("all");
  const [symbol, setSymbol] = useState("");
  const [side, setSide] = useState("");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const mayCancel = can.cancel(role);

  const rows = useMemo(
    () =>
      orders.filter(
        (o) =>
          (state === "all" || (state === "open" ? OPEN_STATES.includes(o.state) : o.state === state)) &&
          (!symbol || o.symbol === symbol) &&
          (!side || o.side === side) &&
          (!text || `${o.client_order_id} ${o.strategy_id} ${o.reason}`.toLowerCase().includes(text.toLowerCase())),
      ),
    [orders, state, symbol, side, text],
  );
  const symbols = [...new Set(orders.map((o) => o.symbol))].sort();
  const open = orders.filter((o) => OPEN_STATES.includes(o.state)).length;

  async function cancel(path: string, method: string) {
    setError(null);
    try {
      await api(path, { method });
    } catch (err) {
      setError((err as Error).message);
    }
    dispatch(loadOrders());
  }

  return (
    <div className="grid gap-4">
      <Card>
        <CardHeader>
          <CardTitle>Orders</CardTitle>
          <span className="text-xs text-muted-foreground">
            {rows.length} shown · {orders.length} total · {open} open
          </span>
        </CardHeader>
        <CardContent className="grid gap-3">
          <div className="flex flex-wrap items-end gap-3" role="group" aria-label="filters">
            <div className="grid gap-1">
              <Label htmlFor="f-state">state</Label>
              <Select id="f-state" value={state} onChange={(e) => setState(e.target.value as typeof state)}>
                {STATE_FILTERS.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </Select>
            </div>
            <div className="grid gap-1">
              <Label htmlFor="f-symbol">symbol</Label>
              <Select id="f-symbol" value={symbol} onChange={(e) => setSymbol(e.target.value)}>
                <option value="">all</option>
                {symbols.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </Select>
            </div>
            <div className="grid gap-1">
              <Label htmlFor="f-side">side</Label>
              <Select id="f-side" value={side} onChange={(e) => setSide(e.target.value)}>
                <option value="">both</option>
                <option value="B">buy</option>
                <option value="S">sell</option>
              </Select>
            </div>
            <div className="grid gap-1">
              <Label htmlFor="f-text">id, strategy or reason</Label>
              <Input id="f-text" className="w-56" value={text} onChange={(e) => setText(e.target.value)} />
            </div>
            {mayCancel && (
              <Button variant="outline" className="ml-auto" disabled={!open} onClick={() => cancel("/orders/cancel-all", "POST")}>
                Cancel all open
              </Button>
            )}
          </div>
          {error && (
            <p role="alert" className="text-sm text-ask">
              {error}
            </p>
          )}
          <div className="max-h-[60vh] overflow-auto">
            <Table aria-label="orders" data-testid="blotter">
              <THead>
                <TR>
                  <TH>created (UTC)</TH>
                  <TH>order</TH>
                  <TH>strategy</TH>
                  <TH>symbol</TH>
                  <TH>side</TH>
                  <TH>type</TH>
                  <TH className="text-right">qty</TH>
                  <TH className="text-right">price</TH>
                  <TH className="text-right">filled</TH>
                  <TH className="text-right">avg px</TH>
                  <TH>state</TH>
                  <TH>reason</TH>
                  <TH />
                </TR>
              </THead>
              <TBody>
                {rows.slice(0, 500).map((o) => (
                  <TR key={o.client_order_id} className="font-mono text-xs" data-testid={`order-${o.client_order_id}`}>
                    <TD>{clock(o.created_ns)}</TD>
                    <TD>{o.client_order_id}</TD>
                    <TD>{o.strategy_id}</TD>
                    <TD className="font-sans">{o.symbol}</TD>
                    <TD className={o.side === "B" ? "text-bid" : "text-ask"}>{o.side === "B" ? "buy" : "sell"}</TD>
                    <TD>{o.order_type}</TD>
                    <TD className="text-right">{qty(o.quantity)}</TD>
                    <TD className="text-right">{px(o.price)}</TD>
                    <TD className="text-right">{qty(o.filled_quantity)}</TD>
                    <TD className="text-right">{o.average_fill_price ? px(o.average_fill_price) : "—"}</TD>
                    <TD>
                      <Badge variant={stateVariant(o.state)}>{o.state.replace("_", " ")}</Badge>
                    </TD>
                    <TD className="max-w-[16rem] truncate font-sans" title={o.reason}>
                      {o.reason}
                    </TD>
                    <TD>
                      {mayCancel && OPEN_STATES.includes(o.state) && o.state !== "cancel_pending" && (
                        <Button size="sm" variant="outline" aria-label={`cancel ${o.client_order_id}`} onClick={() => cancel(`/orders/${o.client_order_id}`, "DELETE")}>
                          Cancel
                        </Button>
                      )}
                    </TD>
                  </TR>
                ))}
              </TBody>
            </Table>
          </div>
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Fills</CardTitle>
        </CardHeader>
        <CardContent className="max-h-[40vh] overflow-auto">
          <FillsTable limit={200} />
        </CardContent>
      </Card>
    </div>
  );
}
