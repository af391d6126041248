import { useMemo } from "react";
import { useAppSelector } from "@/store";
import { px, qty, usd } from "@/lib/format";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { TimeChart } from "@/charts/TimeChart";
import { cn } from "@/lib/utils";

function Stat({ label, value, testid }: { label: string; value: number | undefined; testid?: string }) {
  return (
    <div className="rounded-md border p-3">
      <div className="text-xs text-muted-foreground">{label}</div>
      <div data-testid={testid} className={cn("font-mono text-xl", value !== undefined && value < 0 ? "text-ask" : value ? "text-bid" : "")}>
        {usd(value)}
      </div>
    </div>
  );
}

export function PositionsView() {
  const account = useAppSelector((s) => s.trading.account);
  const pnl = useAppSelector((s) => s.trading.pnl);
  const series = useMemo(() => {
    const t = (p: (typeof pnl)[number]) => p.ts_ns / 1e6;
    return [
      { name: "total", color: "hsl(199 89% 60%)", points: pnl.map((p) => ({ t: t(p), v: p.realised_usd + p.unrealised_usd })) },
      { name: "realised", color: "hsl(142 70% 45%)", points: pnl.map((p) => ({ t: t(p), v: p.realised_usd })), step: true },
      { name: "unrealised", color: "hsl(38 92% 55%)", points: pnl.map((p) => ({ t: t(p), v: p.unrealised_usd })) },
    ];
  }, [pnl]);
  const total = account ? account.realised_pnl_usd + account.unrealised_pnl_usd : undefined;
  return (
    <div className="grid gap-4">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-5">
        <Stat label="total PnL" value={total} testid="pnl-total" />
        <Stat label="realised" value={account?.realised_pnl_usd} />
        <Stat label="unrealised" value={account?.unrealised_pnl_usd} />
        <div className="rounded-md border p-3">
          <div className="text-xs text-muted-foreground">gross exposure</div>
          <div className="font-mono text-xl">{usd(account?.gross_exposure_usd)}</div>
        </div>
        <div className="rounded-md border p-3">
          <div className="text-xs text-muted-foreground">open orders</div>
          <div className="font-mono text-xl">{account?.open_orders ?? "—"}</div>
        </div>
      </div>
      <Card>
        <CardHeader>
          <CardTitle>Positions</CardTitle>
        </CardHeader>
        <CardContent>
          {!account?.positions.length ? (
            <p className="text-sm text-muted-foreground">No positions yet.</p>
          ) : (
            <Table aria-label="positions" data-testid="positions">
              <THead>
                <TR>
                  <TH>symbol</TH>
                  <TH className="text-right">position</TH>
                  <TH className="text-right">avg price</TH>
                  <TH className="text-right">mark</TH>
                  <TH className="text-right">realised</TH>
                  <TH className="text-right">unrealised</TH>
                  <TH className="text-right">bought</TH>
                  <TH className="text-right">sold</TH>
                  <TH className="text-right">turnover</TH>
                </TR>
              </THead>
              <TBody>
                {account.positions.map((p) => (
                  <TR key={p.symbol} className="font-mono">
                    <TD className="font-sans font-semibold">{p.symbol}</TD>
                    <TD className={cn("text-right", p.quantity > 0 ? "text-bid" : p.quantity < 0 ? "text-ask" : "")}>{qty(p.quantity)}</TD>
                    <TD className="text-right">{p.average_price ? px(p.average_price) : "—"}</TD>
                    <TD className="text-right">{px(p.mark_price)}</TD>
                    <TD className={cn("text-right", p.realised_pnl_usd < 0 && "text-ask")}>{usd(p.realised_pnl_usd)}</TD>
                    <TD className={cn("text-right", p.unrealised_pnl_usd < 0 && "text-ask")}>{usd(p.unrealised_pnl_usd)}</TD>
                    <TD className="text-right">{qty(p.bought)}</TD>
                    <TD className="text-right">{qty(p.sold)}</TD>
                    <TD className="text-right">{usd(p.traded_notional / 10_000)}</TD>
                  </TR>
                ))}
              </TBody>
            </Table>
          )}
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>PnL (sampled each second)</CardTitle>
        </CardHeader>
        <CardContent>
          <TimeChart series={series} label="account PnL in dollars" height={260} zeroLine format={(v) => usd(v)} />
        </CardContent>
      </Card>
    </div>
  );
}
