import { useEffect, useState } from "react";
import { store, useAppDispatch, useAppSelector } from "./store";
import { logout } from "./store/auth";
import { connectLive } from "./lib/live";
import { setUnauthorizedHandler } from "./lib/api";
import { loadKinds } from "./store/trading";
import { Login } from "./views/Login";
import { MarketView } from "./views/Market";
import { StrategiesView } from "./views/Strategies";
import { OrdersView } from "./views/Orders";
import { PositionsView } from "./views/Positions";
import { RiskView } from "./views/Risk";
import { SystemView } from "./views/System";
import { Badge } from "./components/ui/badge";
import { Button } from "./components/ui/button";
import { cn } from "./lib/utils";

const VIEWS = [
  { id: "market", label: "Market", Component: MarketView },
  { id: "strategies", label: "Strategies", Component: StrategiesView },
  { id: "orders", label: "Orders & fills", Component: OrdersView },
  { id: "positions", label: "Positions & PnL", Component: PositionsView },
  { id: "risk", label: "Risk", Component: RiskView },
  { id: "system", label: "System", Component: SystemView },
] as const;
type ViewId = (typeof VIEWS)[number]["id"];

function currentView(): ViewId {
  const id = location.hash.replace(/^#\/?/, "");
  return (VIEWS.find((v) => v.id === id)?.id ?? "market") as ViewId;
}

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA" || el.isContentEditable);
}

export function App() {
  const auth = useAppSelector((s) => s.auth);
  const dispatch = useAppDispatch();
  const [view, setView] = useState<ViewId>(currentView);

  useEffect(() => setUnauthorizedHandler(() => dispatch(logout())), [dispatch]);
  useEffect(() => {
    const onHash = () => setView(currentView());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    if (!auth.token) return;
    dispatch(loadKinds());
    return connectLive(auth.token, dispatch, () => Object.keys(store.getState().market.instruments).length > 0);
  }, [auth.token, dispatch]);
  useEffect(() => {
    // Keys 1-6 switch views (outside text fields); the nav links stay in the tab order too.
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
      const n = Number(e.key);
      if (n >= 1 && n <= VIEWS.length) location.hash = `#/${VIEWS[n - 1].id}`;
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  if (!auth.token) return <Login />;
  const Active = VIEWS.find((v) => v.id === view)!.Component;
  return (
    <div className="flex min-h-screen flex-col">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-primary focus:px-2 focus:text-primary-foreground">
        Skip to content
      </a>
      <header className="flex flex-wrap items-center gap-4 border-b px-4 py-2">
        <span className="font-mono text-lg font-bold tracking-tight text-primary">velocimex</span>
        <nav aria-label="views" className="flex flex-wrap gap-1">
          {VIEWS.map((v, i) => (
            <a
              key={v.id}
              href={`#/${v.id}`}
              aria-current={v.id === view ? "page" : undefined}
              aria-keyshortcuts={String(i + 1)}
              className={cn(
                "rounded-md px-3 py-1.5 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
                v.id === view ? "bg-secondary font-semibold" : "text-muted-foreground hover:bg-accent",
              )}
            >
              <kbd className="mr-1.5 text-[10px] text-muted-foreground">{i + 1}</kbd>
              {v.label}
            </a>
          ))}
        </nav>
        <StatusStrip />
        <div className="ml-auto flex items-center gap-2 text-sm">
          <span data-testid="whoami">
            {auth.username} <Badge variant="muted">{auth.role}</Badge>
          </span>
          <Button variant="ghost" size="sm" onClick={() => dispatch(logout())}>
            Log out
          </Button>
        </div>
      </header>
      <main id="main" className="flex-1 p-4 focus:outline-none" tabIndex={-1}>
        <Active />
      </main>
    </div>
  );
}

function StatusStrip() {
  const link = useAppSelector((s) => s.system.link);
  const risk = useAppSelector((s) => s.system.risk);
  return (
    <div className="flex items-center gap-2 text-xs" aria-live="polite">
      <Badge data-testid="link-state" variant={link === "open" ? "good" : link === "connecting" ? "warn" : "bad"}>
        {link === "open" ? "live" : link === "connecting" ? "connecting…" : "disconnected"}
      </Badge>
      {risk && (
        <Badge data-testid="trading-state" variant={risk.state === "active" ? "good" : risk.state === "halted" ? "bad" : "warn"}>
          {risk.state.replace("_", " ")}
        </Badge>
      )}
      {risk?.kill_switch && (
        <Badge data-testid="kill-badge" variant="bad">
          KILL SWITCH ON
        </Badge>
      )}
    </div>
  );
}
