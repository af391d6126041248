// ITCH prices carry 4 implied decimals (velocimex.domain.PRICE_SCALE).
export const PRICE_SCALE = 10_000;

export function px(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || value === 0) return "—";
  return (value / PRICE_SCALE).toFixed(digits);
}

export function qty(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value.toLocaleString("en-US");
}

export function usd(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const sign = value < 0 ? "-" : "";
  return `${sign}$${Math.abs(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export function clock(ts_ns: number): string {
  if (!ts_ns) return "—";
  return new Date(ts_ns / 1e6).toISOString().slice(11, 23);
}

export function ns(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} ms`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)} µs`;
  return `${value.toFixed(0)} ns`;
}
