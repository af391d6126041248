import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import path from "node:path";

// `npm run dev` proxies the API to a local `velocimex serve`; the built files are served by
// the control plane itself, so the UI and the API share an origin (no CORS).
const api = process.env.VELOCIMEX_API ?? "http://127.0.0.1:8000";
const apiPrefixes = [
  "/auth", "/orders", "/positions", "/risk", "/strategies", "/feeds", "/market", "/system", "/metrics", "/openapi.json",
];

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": path.resolve(path.dirname(new URL(import.meta.url).pathname), "src") } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 900 },
  server: {
    proxy: {
      ...Object.fromEntries(apiPrefixes.map((p) => [p, api])),
      "/ws": { target: api.replace(/^http/, "ws"), ws: true },
    },
  },
});
