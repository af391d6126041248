import { useAppSelector } from "@/store";
import { Table, TBody, TD, TH, THead, TR } from "./ui/table";
import { clock, px, qty } from "@/lib/format";

// compact: the market view's narrow per-instrument panel leaves out symbol, order id and
// liquidity flag.
export function FillsTable({ symbol, limit = 50, compact = false }: { symbol?: string; limit?: number; compact?: boolean }) {
  const all = useAppSelector((s) => s.market.fills);
  const rows = (symbol ? all.filter((f) => f.symbol === symbol) : all).slice(0, limit);
  if (!rows.length) return <p className="text-sm text-muted-foreground">No fills yet.</p>;
  return (
    <Table aria-label="fills" data-testid="fills">
      <THead>
        <TR>
          <TH>time (UTC)</TH>
          {!compact && <TH>symbol</TH>}
          <TH>side</TH>
          <TH className="text-right">qty</TH>
          <TH className="text-right">price</TH>
          {!compact && <TH>order</TH>}
          {!compact && <TH>liq</TH>}
        </TR>
      </THead>
      <TBody>
        {rows.map((f) => (
          <TR key={`${f.venue}-${f.execution_id}`} className="font-mono">
            <TD>{clock(f.ts_ns)}</TD>
            {!compact && <TD className="font-sans">{f.symbol}</TD>}
            <TD className={f.side === "B" ? "text-bid" : "text-ask"}>{f.side === "B" ? "buy" : "sell"}</TD>
            <TD className="text-right">{qty(f.quantity)}</TD>
            <TD className="text-right">{px(f.price)}</TD>
            {!compact && <TD className="text-xs">{f.client_order_id}</TD>}
            {!compact && <TD>{f.liquidity}</TD>}
          </TR>
        ))}
      </TBody>
    </Table>
  );
}
