import { useEffect, useMemo, useState } from "react";
import type { JsonSchemaProperty } from "@/lib/types";
import { Input } from "./ui/input";
import { Label } from "./ui/label";
import { Button } from "./ui/button";

// A form generated from a pydantic JSON schema (strategy Params, RiskLimits). It checks what
// the schema states (type, bounds, lengths, required) before sending; the server validates
// again and its 422 detail is shown as well.

export type Values = Record<string, unknown>;

function typeOf(p: JsonSchemaProperty): string {
  if (p.type) return p.type;
  const inner = p.anyOf?.find((a) => a.type && a.type !== "null");
  return inner?.type ?? "string";
}

export function validateField(name: string, p: JsonSchemaProperty, raw: string, required: boolean): [unknown, string | null] {
  const type = typeOf(p);
  const nullable = p.anyOf?.some((a) => a.type === "null") ?? false;
  if (raw.trim() === "") {
    if (nullable) return [null, null];
    if (required) return [undefined, `${name} is required`];
    return [undefined, null];
  }
  if (type === "integer" || type === "number") {
    const v = Number(raw);
    if (!Number.isFinite(v)) return [undefined, `${name} must be a number`];
    if (type === "integer" && !Number.isInteger(v)) return [undefined, `${name} must be a whole number`];
    const bounds = p.anyOf?.find((a) => a.type === type) ?? p;
    if (bounds.minimum !== undefined && v < bounds.minimum) return [undefined, `${name} must be ≥ ${bounds.minimum}`];
    if (bounds.maximum !== undefined && v > bounds.maximum) return [undefined, `${name} must be ≤ ${bounds.maximum}`];
    if (bounds.exclusiveMinimum !== undefined && v <= bounds.exclusiveMinimum)
      return [undefined, `${name} must be > ${bounds.exclusiveMinimum}`];
    if (bounds.exclusiveMaximum !== undefined && v >= bounds.exclusiveMaximum)
      return [undefined, `${name} must be < ${bounds.exclusiveMaximum}`];
    return [v, null];
  }
  if (type === "boolean") {
    if (raw !== "true" && raw !== "false") return [undefined, `${name} must be true or false`];
    return [raw === "true", null];
  }
  if (p.minLength !== undefined && raw.length < p.minLength) return [undefined, `${name} needs ≥ ${p.minLength} characters`];
  if (p.maxLength !== undefined && raw.length > p.maxLength) return [undefined, `${name} allows ≤ ${p.maxLength} characters`];
  return [raw, null];
}

interface Props {
  idPrefix: string;
  properties: Record<string, JsonSchemaProperty>;
  required?: string[];
  values: Values;
  disabled?: boolean;
  submitLabel: string;
  onSubmit: (values: Values) => Promise<void>;
}

export function SchemaForm({ idPrefix, properties, required = [], values, disabled, submitLabel, onSubmit }: Props) {
  // Keyed by content: a store refresh that brings the same values must not wipe what the user
  // is typing; a real change (saved here or elsewhere) does replace it.
  const valuesKey = JSON.stringify(values);
  const fieldsKey = Object.keys(properties).join(",");
  const initial = useMemo(
    () => Object.fromEntries(Object.keys(properties).map((k) => [k, values[k] === undefined || values[k] === null ? "" : String(values[k])])),
    [fieldsKey, valuesKey],
  );
  const [text, setText] = useState<Record<string, string>>(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  // Fields the user has typed in keep their text until submitted; the rest follow the store.
  useEffect(() => setText((current) => ({ ...initial, ...Object.fromEntries([...touched].map((k) => [k, current[k]])) })), [initial]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const out: Values = {};
    const errs: Record<string, string> = {};
    for (const [name, p] of Object.entries(properties)) {
      const [v, err] = validateField(name, p, text[name] ?? "", required.includes(name));
      if (err) errs[name] = err;
      else if (v !== undefined) out[name] = v;
    }
    setErrors(errs);
    setServerError(null);
    setSaved(false);
    if (Object.keys(errs).length) return;
    try {
      await onSubmit(out);
      setSaved(true);
      setTouched(new Set());
    } catch (err) {
      setServerError((err as Error).message);
    }
  }

  return (
    <form onSubmit={submit} className="grid gap-3" noValidate>
      <div className="grid grid-cols-2 gap-x-4 gap-y-2 lg:grid-cols-3">
        {Object.entries(properties).map(([name, p]) => {
          const id = `${idPrefix}-${name}`;
          return (
            <div key={name} className="grid gap-1">
              <Label htmlFor={id} title={p.description}>
                {name}
                {required.includes(name) ? " *" : ""}
              </Label>
              <Input
                id={id}
                name={name}
                value={text[name] ?? ""}
                disabled={disabled}
                inputMode={typeOf(p) === "string" ? "text" : "decimal"}
                aria-invalid={errors[name] ? true : undefined}
                aria-describedby={errors[name] ? `${id}-err` : undefined}
                onChange={(e) => {
                  setText({ ...text, [name]: e.target.value });
                  setTouched(new Set(touched).add(name));
                }}
                className="h-8 font-mono"
              />
              {errors[name] && (
                <p id={`${id}-err`} role="alert" className="text-xs text-ask">
                  {errors[name]}
                </p>
              )}
            </div>
          );
        })}
      </div>
      {!disabled && (
        <div className="flex items-center gap-3">
          <Button type="submit" size="sm">
            {submitLabel}
          </Button>
          {serverError && (
            <p role="alert" className="text-xs text-ask">
              {serverError}
            </p>
          )}
          {saved && <p className="text-xs text-bid">saved</p>}
        </div>
      )}
    </form>
  );
}
