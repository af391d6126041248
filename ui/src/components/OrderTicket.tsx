import { useState } from "react";
import { useAppSelector, useAppDispatch } from "@/store";
import { api } from "@/lib/api";
import { can } from "@/lib/roles";
import { px } from "@/lib/format";
import type { BookTop, Order } from "@/lib/types";
import { loadOrders } from "@/store/trading";
import { Card, CardContent, CardHeader, CardTitle } from "./ui/card";
import { Button } from "./ui/button";
import { Input, Select } from "./ui/input";
import { Label } from "./ui/label";

export function OrderTicket({ symbol, top }: { symbol: string; top: BookTop | null }) {
  const role = useAppSelector((s) => s.auth.role);
  const dispatch = useAppDispatch();
  const [side, setSide] = useState<"B" | "S">("B");
  const [quantity, setQuantity] = useState("100");
  const [price, setPrice] = useState("");
  const [type, setType] = useState<"limit" | "ioc" | "market">("limit");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const allowed = can.trade(role);

  async function send(e: React.FormEvent) {
    e.preventDefault();
    const q = Number(quantity);
    if (!Number.isInteger(q) || q < 1) return setMessage({ ok: false, text: "quantity must be a whole number ≥ 1" });
    let itch: number | null = null;
    if (type !== "market") {
      const p = Number(price);
      if (!price || !Number.isFinite(p) || p <= 0) return setMessage({ ok: false, text: "price must be a positive number of dollars" });
      itch = Math.round(p * 10_000);
    }
    try {
      const o = await api<Order>("/orders", { body: { symbol, side, quantity: q, price: itch, order_type: type } });
      setMessage({ ok: o.state !== "rejected", text: `${o.client_order_id}: ${o.state}${o.reason ? ` (${o.reason})` : ""}` });
      dispatch(loadOrders());
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
  }

  const touch = side === "B" ? top?.ask_px : top?.bid_px;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Order ticket · {symbol}</CardTitle>
      </CardHeader>
      <CardContent>
        {!allowed ? (
          <p className="text-sm text-muted-foreground" data-testid="ticket-disabled">
            Your role ({role}) may not send orders.
          </p>
        ) : (
          <form className="grid grid-cols-2 gap-2" onSubmit={send} data-testid="order-ticket">
            <div className="grid gap-1">
              <Label htmlFor="ticket-side">side</Label>
              <Select id="ticket-side" value={side} onChange={(e) => setSide(e.target.value as "B" | "S")}>
                <option value="B">buy</option>
                <option value="S">sell</option>
              </Select>
            </div>
            <div className="grid gap-1">
              <Label htmlFor="ticket-type">type</Label>
              <Select id="ticket-type" value={type} onChange={(e) => setType(e.target.value as typeof type)}>
                <option value="limit">limit</option>
                <option value="ioc">IOC</option>
                <option value="market">market</option>
              </Select>
            </div>
            <div className="grid gap-1">
              <Label htmlFor="ticket-qty">quantity</Label>
              <Input id="ticket-qty" inputMode="numeric" value={quantity} onChange={(e) => setQuantity(e.target.value)} />
            </div>
            <div className="grid gap-1">
              <Label htmlFor="ticket-price">price ($)</Label>
              <Input
                id="ticket-price"
                inputMode="decimal"
                placeholder={touch ? px(touch) : ""}
                disabled={type === "market"}
                value={price}
                onChange={(e) => setPrice(e.target.value)}
              />
            </div>
            <Button type="submit" className="col-span-2" variant={side === "B" ? "default" : "destructive"}>
              {side === "B" ? "Buy" : "Sell"} {symbol}
            </Button>
            {message && (
              <p role="status" className={`col-span-2 text-xs ${message.ok ? "text-bid" : "text-ask"}`}>
                {message.text}
              </p>
            )}
          </form>
        )}
      </CardContent>
    </Card>
  );
}
