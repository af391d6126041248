import { useEffect, useState } from "react";
import { useAppDispatch, useAppSelector } from "@/store";
import { api } from "@/lib/api";
import { can } from "@/lib/roles";
import type { JsonSchemaProperty, TradingState } from "@/lib/types";
import { loadRisk } from "@/store/system";
import { clock } from "@/lib/format";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TR } from "@/components/ui/table";
import { Button } from "@/components/ui/button";
import { Badge } from "@/components/ui/badge";
import { Input, Select } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { SchemaForm } from "@/components/SchemaForm";
import {
  AlertDialog,
  AlertDialogAction,
  AlertDialogCancel,
  AlertDialogContent,
  AlertDialogDescription,
  AlertDialogFooter,
  AlertDialogTitle,
  AlertDialogTrigger,
} from "@/components/ui/alert-dialog";

type Schema = { properties: Record<string, JsonSchemaProperty>; required?: string[] };

// The limits form is built from the API's own schema (RiskLimits in /openapi.json), so a new
// limit appears here with its bounds without a UI change.
function useLimitsSchema(): Schema | null {
  const [schema, setSchema] = useState<Schema | null>(null);
  useEffect(() => {
    api<{ components: { schemas: Record<string, Schema> } }>("/openapi.json").then((spec) =>
      setSchema(spec.components.schemas.RiskLimits ?? null),
    );
  }, []);
  return schema;
}

export function RiskView() {
  const risk = useAppSelector((s) => s.system.risk);
  const role = useAppSelector((s) => s.auth.role);
  const dispatch = useAppDispatch();
  const schema = useLimitsSchema();
  const officer = can.risk(role);
  const [error, setError] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const [nextState, setNextState] = useState<TradingState>("active");

  async function call(path: string, method: string, body?: unknown) {
    setError(null);
    try {
      await api(path, { method, body });
    } catch (err) {
      setError((err as Error).message);
    }
    dispatch(loadRisk());
  }

  if (!risk) return <p className="text-sm text-muted-foreground">Loading risk status…</p>;
  return (
    <div className="grid gap-4">
      {error && (
        <p role="alert" className="text-sm text-ask">
          {error}
        </p>
      )}
      <div className="grid gap-4 lg:grid-cols-3">
        <Card className={risk.kill_switch ? "border-destructive" : ""}>
          <CardHeader>
            <CardTitle>Kill switch</CardTitle>
            <Badge data-testid="kill-state" variant={risk.kill_switch ? "bad" : "good"}>
              {risk.kill_switch ? "ENGAGED" : "off"}
            </Badge>
          </CardHeader>
          <CardContent className="grid gap-3">
            <p className="text-sm text-muted-foreground">
              Stops every strategy, cancels every open order and refuses every new one. Releasing it leaves trading halted until the state
              is set.
            </p>
            {officer ? (
              risk.kill_switch ? (
                <ConfirmButton
                  label="Release kill switch"
                  title="Release the kill switch?"
                  description="Orders stay refused: trading remains halted until you set the trading state."
                  confirm="Release"
                  variant="outline"
                  onConfirm={() => call("/risk/kill-switch", "DELETE")}
                />
              ) : (
                <>
                  <div className="grid gap-1">
                    <Label htmlFor="kill-reason">reason (audit log)</Label>
                    <Input id="kill-reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={256} />
                  </div>
                  <ConfirmButton
                    label="KILL SWITCH"
                    title="Engage the kill switch?"
                    description="Every strategy stops and every open order is cancelled at the venue now. New orders are refused until it is released and trading is set active again."
                    confirm="Engage kill switch"
                    variant="destructive"
                    onConfirm={() => call("/risk/kill-switch", "POST", { reason }).then(() => setReason(""))}
                  />
                </>
              )
            ) : (
              <p className="text-xs text-muted-foreground">Only a risk officer or admin may use it.</p>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Trading state</CardTitle>
            <Badge data-testid="risk-state" variant={risk.state === "active" ? "good" : risk.state === "halted" ? "bad" : "warn"}>
              {risk.state.replace("_", " ")}
            </Badge>
          </CardHeader>
          <CardContent className="grid gap-3">
            {officer ? (
              <div className="flex items-end gap-2">
                <div className="grid gap-1">
                  <Label htmlFor="next-state">set state</Label>
                  <Select id="next-state" value={nextState} onChange={(e) => setNextState(e.target.value as TradingState)}>
                    <option value="active">active</option>
                    <option value="reducing_only">reducing only</option>
                    <option value="halted">halted</option>
                  </Select>
                </div>
                <Button variant="outline" onClick={() => call("/risk/state", "PUT", { state: nextState, reason: "ui" })}>
                  Apply
                </Button>
              </div>
            ) : null}
            <dl className="grid grid-cols-2 gap-1 font-mono text-sm">
              <dt className="font-sans text-muted-foreground">checked</dt>
              <dd>{risk.checked}</dd>
              <dt className="font-sans text-muted-foreground">approved</dt>
              <dd>{risk.approved}</dd>
              <dt className="font-sans text-muted-foreground">rejected</dt>
              <dd>{risk.rejected}</dd>
              <dt className="font-sans text-muted-foreground">cancels sent</dt>
              <dd>{risk.cancels_sent}</dd>
            </dl>
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Circuit breakers</CardTitle>
          </CardHeader>
          <CardContent>
            <Table aria-label="circuit breakers">
              <TBody>
                {risk.breakers.map((b) => (
                  <TR key={b.name} data-testid={`breaker-${b.name}`}>
                    <TD className="font-mono">{b.name}</TD>
                    <TD>
                      <Badge variant={b.tripped ? "bad" : "good"}>{b.tripped ? "tripped" : "ok"}</Badge>
                    </TD>
                    <TD className="text-xs text-muted-foreground" title={b.reason}>
                      {b.tripped ? `${clock(b.tripped_ns)} ${b.reason}` : ""}
                    </TD>
                    <TD>
                      {officer && b.tripped && b.name !== "stale_market_data" && b.name !== "kill_switch" && (
                        <Button size="sm" variant="outline" onClick={() => call(`/risk/breakers/${b.name}/reset`, "POST")}>
                          Reset
                        </Button>
                      )}
                    </TD>
                  </TR>
                ))}
              </TBody>
            </Table>
            {Object.keys(risk.reject_reasons).length > 0 && (
              <>
                <h3 className="mt-3 text-xs font-semibold text-muted-foreground">rejects by check</h3>
                <ul className="font-mono text-xs">
                  {Object.entries(risk.reject_reasons).map(([k, v]) => (
                    <li key={k}>
                      {k}: {v}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </CardContent>
        </Card>
      </div>
      <Card>
        <CardHeader>
          <CardTitle>Limits</CardTitle>
          {!officer && <span className="text-xs text-muted-foreground">read only: risk officers edit limits</span>}
        </CardHeader>
        <CardContent>
          {schema ? (
            <SchemaForm
              idPrefix="limit"
              properties={schema.properties}
              values={risk.limits}
              disabled={!officer}
              submitLabel="Save limits"
              onSubmit={async (limits) => {
                await api("/risk/limits", { method: "PUT", body: { ...risk.limits, ...limits } });
                dispatch(loadRisk());
              }}
            />
          ) : (
            <p className="text-sm text-muted-foreground">Loading…</p>
          )}
        </CardContent>
      </Card>
    </div>
  );
}

function ConfirmButton(props: {
  label: string;
  title: string;
  description: string;
  confirm: string;
  variant: "destructive" | "outline";
  onConfirm: () => void;
}) {
  return (
    <AlertDialog>
      <AlertDialogTrigger asChild>
        <Button variant={props.variant} size="lg">
          {props.label}
        </Button>
      </AlertDialogTrigger>
      <AlertDialogContent>
        <AlertDialogTitle>{props.title}</AlertDialogTitle>
        <AlertDialogDescription>{props.description}</AlertDialogDescription>
        <AlertDialogFooter>
          <AlertDialogCancel>Cancel</AlertDialogCancel>
          <AlertDialogAction onClick={props.onConfirm}>{props.confirm}</AlertDialogAction>
        </AlertDialogFooter>
      </AlertDialogContent>
    </AlertDialog>
  );
}
