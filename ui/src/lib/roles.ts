import type { Role } from "./types";

// Mirrors the role table of docs/control-plane.md; the server enforces it, the UI only
// hides or disables what would be refused.
export const can = {
  trade: (r: Role | null) => r === "trader" || r === "admin",
  cancel: (r: Role | null) => r === "trader" || r === "risk_officer" || r === "admin",
  risk: (r: Role | null) => r === "risk_officer" || r === "admin",
};
