import { useMemo, useState } from "react";
import { useAppDispatch, useAppSelector } from "@/store";
import { api } from "@/lib/api";
import { can } from "@/lib/roles";
import type { Strategy } from "@/lib/types";
import { loadStrategies } from "@/store/trading";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { Button } from "@/components/ui/button";
import { Badge } from "@/components/ui/badge";
import { Input, Select } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { SchemaForm, type Values } from "@/components/SchemaForm";

export function StrategiesView() {
  const strategies = useAppSelector((s) => s.trading.strategies);
  const role = useAppSelector((s) => s.auth.role);
  const dispatch = useAppDispatch();
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const allowed = can.trade(role);

  async function act(id: string, action: "start" | "stop") {
    setError(null);
    try {
      await api<Strategy>(`/strategies/${id}/${action}`, { method: "POST" });
    } catch (err) {
      setError(`${id}: ${(err as Error).message}`);
    }
    dispatch(loadStrategies());
  }

  return (
    <div className="grid gap-4">
      <Card>
        <CardHeader>
          <CardTitle>Strategies</CardTitle>
          {!allowed && <span className="text-xs text-muted-foreground">read only for role {role}</span>}
        </CardHeader>
        <CardContent>
          {error && (
            <p role="alert" className="mb-2 text-sm text-ask">
              {error}
            </p>
          )}
          {strategies.length === 0 ? (
            <p className="text-sm text-muted-foreground">No strategy instances yet{allowed ? ": add one below." : "."}</p>
          ) : (
            <Table aria-label="strategies">
              <THead>
                <TR>
                  <TH>id</TH>
                  <TH>kind</TH>
                  <TH>status</TH>
                  <TH className="text-right">intents</TH>
                  <TH className="text-right">rejected</TH>
                  <TH className="text-right">open orders</TH>
                  <TH>last error</TH>
                  <TH>params</TH>
                  <TH />
                </TR>
              </THead>
              <TBody>
                {strategies.map((s) => (
                  <TR key={s.strategy_id} data-testid={`strategy-${s.strategy_id}`}>
                    <TD className="font-mono font-semibold">{s.strategy_id}</TD>
                    <TD>{s.kind}</TD>
                    <TD>
                      <Badge variant={s.running ? "good" : "muted"} data-testid="strategy-status">
                        {s.running ? "running" : "stopped"}
                      </Badge>
                    </TD>
                    <TD className="text-right font-mono">{s.intents}</TD>
                    <TD className="text-right font-mono">{s.rejected_intents}</TD>
                    <TD className="text-right font-mono">{s.open_orders}</TD>
                    <TD className="max-w-xs truncate text-xs text-ask" title={s.last_error}>
                      {s.last_error}
                    </TD>
                    <TD className="max-w-sm truncate font-mono text-xs text-muted-foreground" title={JSON.stringify(s.params)}>
                      {JSON.stringify(s.params)}
                    </TD>
                    <TD className="flex gap-1">
                      {allowed &&
                        (s.running ? (
                          <Button size="sm" variant="outline" onClick={() => act(s.strategy_id, "stop")}>
                            Stop
                          </Button>
                        ) : (
                          <Button size="sm" onClick={() => act(s.strategy_id, "start")}>
                            Start
                          </Button>
                        ))}
                      <Button size="sm" variant="ghost" aria-expanded={editing === s.strategy_id} onClick={() => setEditing(editing === s.strategy_id ? null : s.strategy_id)}>
                        {allowed ? "Edit" : "Params"}
                      </Button>
                    </TD>
                  </TR>
                ))}
              </TBody>
            </Table>
          )}
        </CardContent>
      </Card>
      {editing && <ParamsEditor strategy={strategies.find((s) => s.strategy_id === editing)} readOnly={!allowed} />}
      {allowed && <AddStrategy />}
    </div>
  );
}

function ParamsEditor({ strategy, readOnly }: { strategy?: Strategy; readOnly: boolean }) {
  const kinds = useAppSelector((s) => s.trading.kinds);
  const dispatch = useAppDispatch();
  if (!strategy) return null;
  const kind = kinds.find((k) => k.kind === strategy.kind);
  const properties = kind?.params_schema.properties ?? {};
  return (
    <Card>
      <CardHeader>
        <CardTitle>Parameters · {strategy.strategy_id}</CardTitle>
      </CardHeader>
      <CardContent>
        <SchemaForm
          idPrefix={`params-${strategy.strategy_id}`}
          properties={properties}
          required={kind?.params_schema.required}
          values={strategy.params}
          disabled={readOnly}
          submitLabel="Save parameters"
          onSubmit={async (params: Values) => {
            await api(`/strategies/${strategy.strategy_id}/params`, { method: "PUT", body: { params } });
            dispatch(loadStrategies());
          }}
        />
      </CardContent>
    </Card>
  );
}

function AddStrategy() {
  const kinds = useAppSelector((s) => s.trading.kinds);
  const instruments = useAppSelector((s) => s.market.instruments);
  const firstSymbol = useMemo(() => Object.keys(instruments).sort()[0] ?? "", [instruments]);
  const dispatch = useAppDispatch();
  const [kind, setKind] = useState("market_maker");
  const taken = useAppSelector((s) => s.trading.strategies).map((s) => s.strategy_id);
  // A free id by default, so adding another instance is not a 409 unless the user asks for one.
  const [id, setId] = useState(() => {
    let n = 1;
    while (taken.includes(`mm${n}`)) n += 1;
    return `mm${n}`;
  });
  const [idError, setIdError] = useState<string | null>(null);
  const schema = kinds.find((k) => k.kind === kind)?.params_schema;
  const defaults = useMemo(() => {
    const out: Values = {};
    for (const [name, p] of Object.entries(schema?.properties ?? {})) {
      if (p.default !== undefined) out[name] = p.default;
      else if (name === "symbol" || name.startsWith("symbol_")) out[name] = firstSymbol;
    }
    return out;
  }, [schema, firstSymbol]);
  return (
    <Card>
      <CardHeader>
        <CardTitle>Add a strategy</CardTitle>
      </CardHeader>
      <CardContent className="grid gap-3">
        <div className="flex flex-wrap gap-4">
          <div className="grid gap-1">
            <Label htmlFor="new-strategy-id">id</Label>
            <Input id="new-strategy-id" className="h-8 w-48 font-mono" value={id} onChange={(e) => setId(e.target.value)} aria-invalid={idError ? true : undefined} />
          </div>
          <div className="grid gap-1">
            <Label htmlFor="new-strategy-kind">kind</Label>
            <Select id="new-strategy-kind" className="h-8" value={kind} onChange={(e) => setKind(e.target.value)}>
              {kinds.map((k) => (
                <option key={k.kind}>{k.kind}</option>
              ))}
            </Select>
          </div>
        </div>
        {idError && (
          <p role="alert" className="text-xs text-ask">
            {idError}
          </p>
        )}
        {schema && (
          <SchemaForm
            key={kind}
            idPrefix="new-params"
            properties={schema.properties ?? {}}
            required={schema.required}
            values={defaults}
            submitLabel="Add strategy"
            onSubmit={async (params) => {
              if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
                setIdError("id: 1-64 letters, digits, _ or -");
                throw new Error("fix the id");
              }
              setIdError(null);
              await api("/strategies", { body: { strategy_id: id, kind, params } });
              dispatch(loadStrategies());
              setId(id.replace(/(\d*)$/, (n) => String(Number(n || 1) + 1)));
            }}
          />
        )}
      </CardContent>
    </Card>
  );
}
