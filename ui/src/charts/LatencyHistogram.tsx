import * as d3 from "d3";
import { useEffect, useRef } from "react";
import type { LatencyQuantiles } from "@/lib/types";
import { ns } from "@/lib/format";
import { useWidth } from "./useWidth";

// The bench report keeps quantiles, not raw samples, so each engine's histogram is drawn from
// its quantile bands: the share of samples between p50-p90, p90-p99, p99-p99.9 and p99.9-max,
// spread over that band's width on a log time axis (share per decade). Exact at the band
// edges, flat inside a band. The lower half has no lower bound in the report, so it is marked
// by a dashed line at p50 instead of a bar. Bands of zero width (the RTL's fixed pipeline gives
// the same latency for every message) merge into one spike of their summed share.
const BANDS: [keyof LatencyQuantiles, keyof LatencyQuantiles, number][] = [
  ["p50", "p90", 0.4],
  ["p90", "p99", 0.09],
  ["p99", "p99_9", 0.009],
  ["p99_9", "max", 0.001],
];
const SPIKE = 1.06; // a spike is drawn this factor either side of its value

interface Bar {
  start: number;
  end: number;
  share: number;
}

function bars(q: LatencyQuantiles): Bar[] {
  const out: Bar[] = [];
  for (const [from, to, share] of BANDS) {
    const a = q[from];
    const b = q[to];
    const last = out[out.length - 1];
    if (b <= a * 1.001) {
      if (last && last.start === a / SPIKE) last.share += share;
      else out.push({ start: a / SPIKE, end: a * SPIKE, share });
    } else {
      out.push({ start: a, end: b, share });
    }
  }
  return out;
}

export interface EngineLatency {
  label: string;
  color: string;
  q: LatencyQuantiles;
}

export function LatencyHistogram({ engines, height = 240 }: { engines: EngineLatency[]; height?: number }) {
  const [box, width] = useWidth<HTMLDivElement>();
  const svgRef = useRef<SVGSVGElement>(null);

  useEffect(() => {
    const svg = d3.select(svgRef.current);
    svg.selectAll("*").remove();
    if (!width || !engines.length) return;
    const margin = { top: 12, right: 12, bottom: 34, left: 44 };
    const w = width - margin.left - margin.right;
    const h = height - margin.top - margin.bottom;
    const lo = d3.min(engines, (e) => e.q.p50 / 2) ?? 1;
    const hi = d3.max(engines, (e) => e.q.max * 1.5) ?? 10;
    const x = d3.scaleLog().domain([Math.max(lo, 1), hi]).range([0, w]);
    const all = engines.flatMap((engine) =>
      bars(engine.q).map((b) => ({ ...b, engine, density: b.share * 100 })),
    );
    const y = d3
      .scaleLinear()
      .domain([0, d3.max(all, (b) => b.density) ?? 1])
      .nice()
      .range([h, 0]);
    const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
    g.append("g")
      .attr("transform", `translate(0,${h})`)
      .call(d3.axisBottom(x).ticks(6, (v: number) => ns(v)))
      .attr("class", "text-muted-foreground");
    g.append("g")
      .call(d3.axisLeft(y).ticks(4).tickFormat((v) => `${v}%`))
      .attr("class", "text-muted-foreground");
    g.append("text")
      .attr("x", w / 2)
      .attr("y", h + 30)
      .attr("text-anchor", "middle")
      .attr("class", "fill-muted-foreground")
      .text("latency per message (log scale)");
    g.append("text")
      .attr("transform", `translate(-34,${h / 2}) rotate(-90)`)
      .attr("text-anchor", "middle")
      .attr("class", "fill-muted-foreground")
      .text("share of messages");
    for (const e of engines) {
      g.append("line")
        .attr("x1", x(e.q.p50))
        .attr("x2", x(e.q.p50))
        .attr("y1", 0)
        .attr("y2", h)
        .attr("stroke", e.color)
        .attr("stroke-dasharray", "4 3")
        .append("title")
        .text(`${e.label}: 50% of messages at or below ${ns(e.q.p50)}`);
      g.append("text")
        .attr("x", x(e.q.p50) - 4)
        .attr("y", 10)
        .attr("text-anchor", "end")
        .attr("fill", e.color)
        .text("50% ≤ p50");
    }
    g.selectAll("rect.band")
      .data(all)
      .join("rect")
      .attr("class", "band")
      .attr("x", (b) => x(b.start))
      .attr("width", (b) => Math.max(1, x(b.end) - x(b.start)))
      .attr("y", (b) => y(b.density))
      .attr("height", (b) => h - y(b.density))
      .attr("fill", (b) => b.engine.color)
      .attr("fill-opacity", 0.55)
      .attr("stroke", (b) => b.engine.color)
      .append("title")
      .text((b) => `${b.engine.label}: ${(b.share * 100).toFixed(1)}% of messages between ${ns(b.start)} and ${ns(b.end)}`);
  }, [engines, width, height]);

  return (
    <figure ref={box} className="w-full" aria-label="latency histogram, hardware versus software">
      <svg ref={svgRef} width={width} height={height} className="text-[10px]" role="img" aria-label="latency histogram" />
      <figcaption className="flex flex-wrap gap-4 text-xs text-muted-foreground">
        {engines.map((e) => (
          <span key={e.label} className="flex items-center gap-1">
            <span className="inline-block h-2 w-3" style={{ background: e.color }} />
            {e.label}: p50 {ns(e.q.p50)}, p99 {ns(e.q.p99)}, max {ns(e.q.max)} ({e.q.count.toLocaleString()} samples)
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
