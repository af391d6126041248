import { useEffect } from "react";
import { useAppDispatch, useAppSelector } from "@/store";
import { loadFeeds, loadHardware, loadLatency, loadStatus } from "@/store/system";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { Badge } from "@/components/ui/badge";
import { LatencyHistogram } from "@/charts/LatencyHistogram";
import { ns, px, qty } from "@/lib/format";

const POLL_MS = 2000;
const COLORS = ["hsl(38 92% 55%)", "hsl(199 89% 55%)", "hsl(280 70% 65%)", "hsl(142 70% 45%)"];

export function SystemView() {
  const dispatch = useAppDispatch();
  const { status, hardware, latency, feeds, link, reconnects } = useAppSelector((s) => s.system);
  useEffect(() => {
    const poll = () => {
      dispatch(loadStatus());
      dispatch(loadHardware());
      dispatch(loadFeeds());
      dispatch(loadLatency());
    };
    poll();
    const timer = window.setInterval(poll, POLL_MS);
    return () => window.clearInterval(timer);
  }, [dispatch]);
  const gaps = hardware?.counters.seq_gaps;
  return (
    <div className="grid gap-4">
      <div className="grid gap-4 lg:grid-cols-3">
        <Card>
          <CardHeader>
            <CardTitle>Control plane</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="grid grid-cols-2 gap-1 text-sm">
              <dt className="text-muted-foreground">version</dt>
              <dd className="font-mono">{status?.version ?? "—"}</dd>
              <dt className="text-muted-foreground">venue</dt>
              <dd className="font-mono" data-testid="venue">
                {status?.venue ?? "—"}
              </dd>
              <dt className="text-muted-foreground">uptime</dt>
              <dd className="font-mono">{status ? `${status.uptime_s.toFixed(0)} s` : "—"}</dd>
              <dt className="text-muted-foreground">orders / open</dt>
              <dd className="font-mono">{status ? `${status.orders} / ${status.open_orders}` : "—"}</dd>
              <dt className="text-muted-foreground">next venue seq</dt>
              <dd className="font-mono">{status?.next_venue_sequence ?? "—"}</dd>
              <dt className="text-muted-foreground">order anomalies</dt>
              <dd className="font-mono">{status ? Object.values(status.anomalies).reduce((a, b) => a + b, 0) : "—"}</dd>
              <dt className="text-muted-foreground">live link</dt>
              <dd>
                <Badge variant={link === "open" ? "good" : "warn"}>{link}</Badge>{" "}
                <span className="text-xs text-muted-foreground">{reconnects} reconnects</span>
              </dd>
              <dt className="text-muted-foreground">WS clients / dropped</dt>
              <dd className="font-mono">{status ? `${status.websocket_clients} / ${status.events_dropped}` : "—"}</dd>
            </dl>
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Book engine</CardTitle>
            <Badge variant={hardware?.attached ? "good" : "muted"}>{hardware?.attached ? "attached" : "not attached"}</Badge>
          </CardHeader>
          <CardContent className="grid gap-2">
            <p className="font-mono text-sm" data-testid="engine">
              {hardware?.engine ?? "—"}
            </p>
            <p className="text-sm">
              sequence gaps: <span className="font-mono" data-testid="seq-gaps">{gaps ?? "—"}</span>
            </p>
            <div>
              <Table aria-label="hardware counters" data-testid="counters" className="text-xs">
                <TBody>
                  {Object.entries(hardware?.counters ?? {}).map(([name, value]) => (
                    <TR key={name}>
                      <TD className="py-0.5 font-mono text-xs">{name}</TD>
                      <TD className="py-0.5 text-right font-mono text-xs">{value === null ? "—" : qty(value)}</TD>
                    </TR>
                  ))}
                </TBody>
              </Table>
            </div>
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Feeds</CardTitle>
            <span className="font-mono text-xs text-muted-foreground">{feeds ? `${qty(feeds.book_tops_received)} tops` : ""}</span>
          </CardHeader>
          <CardContent>
            <Table aria-label="feeds" data-testid="feeds">
              <THead>
                <TR>
                  <TH>symbol</TH>
                  <TH className="text-right">locate</TH>
                  <TH className="text-right">seq</TH>
                  <TH className="text-right">bid / ask</TH>
                  <TH>state</TH>
                </TR>
              </THead>
              <TBody>
                {feeds?.instruments.map((i) => (
                  <TR key={i.symbol} className="font-mono text-xs">
                    <TD className="font-sans">{i.symbol}</TD>
                    <TD className="text-right">{i.locate}</TD>
                    <TD className="text-right">{i.seq ?? "—"}</TD>
                    <TD className="text-right">
                      {px(i.bid_px, 2)} / {px(i.ask_px, 2)}
                    </TD>
                    <TD>
                      {i.sequence_gap ? <Badge variant="bad">gap</Badge> : i.problem ? <Badge variant="warn">{i.problem}</Badge> : <Badge variant="good">ok</Badge>}
                    </TD>
                  </TR>
                ))}
              </TBody>
            </Table>
          </CardContent>
        </Card>
      </div>
      <Card>
        <CardHeader>
          <CardTitle>Latency: hardware vs software book engine</CardTitle>
          {latency?.available && (
            <span className="text-xs text-muted-foreground">
              {latency.date} · <code>{latency.command}</code>
            </span>
          )}
        </CardHeader>
        <CardContent>
          {!latency ? (
            <p className="text-sm text-muted-foreground">Loading…</p>
          ) : !latency.available ? (
            <p className="text-sm text-muted-foreground" data-testid="latency-missing">
              No benchmark report at {latency.source}. Run <code>velocimex bench</code> (or <code>make bench</code>) to measure both
              engines.
            </p>
          ) : (
            <LatencyHistogram engines={latency.engines.map((e, n) => ({ label: e.label, color: COLORS[n % COLORS.length], q: e.latency_ns }))} />
          )}
          {latency?.live_feed && (
            <p className="mt-3 text-sm" data-testid="live-feed-latency">
              <span className="text-muted-foreground">live, software feed path (datagram in → records published, since the feed started, {latency.live_feed.source}):</span>{" "}
              <span className="font-mono">
                p50 {ns(latency.live_feed.p50_ns)} · p99 {ns(latency.live_feed.p99_ns)} · max {ns(latency.live_feed.max_ns)} ·{" "}
                {qty(latency.live_feed.samples)} samples, one per delivered packet
              </span>
            </p>
          )}
        </CardContent>
      </Card>
    </div>
  );
}
