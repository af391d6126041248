import * as d3 from "d3";
import { useEffect, useRef } from "react";
import { useWidth } from "./useWidth";

export interface Series {
  name: string;
  color: string;
  points: { t: number; v: number }[]; // t in ms since the epoch
  step?: boolean;
}

const utcTime = d3.utcFormat("%H:%M:%S"); // the UI shows UTC everywhere

interface Props {
  series: Series[];
  height?: number;
  format?: (v: number) => string;
  label: string;
  zeroLine?: boolean;
}

export function TimeChart({ series, height = 220, format = d3.format(",.2f"), label, zeroLine }: Props) {
  const [box, width] = useWidth<HTMLDivElement>();
  const svgRef = useRef<SVGSVGElement>(null);

  useEffect(() => {
    const svg = d3.select(svgRef.current);
    svg.selectAll("*").remove();
    if (!width) return;
    const margin = { top: 10, right: 64, bottom: 22, left: 8 };
    const w = width - margin.left - margin.right;
    const h = height - margin.top - margin.bottom;
    const all = series.flatMap((s) => s.points);
    const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
    if (all.length < 2) {
      g.append("text")
        .attr("x", w / 2)
        .attr("y", h / 2)
        .attr("text-anchor", "middle")
        .attr("class", "fill-muted-foreground text-xs")
        .text("waiting for data…");
      return;
    }
    const x = d3
      .scaleUtc()
      .domain(d3.extent(all, (p) => p.t) as [number, number])
      .range([0, w]);
    let [lo, hi] = d3.extent(all, (p) => p.v) as [number, number];
    if (zeroLine) {
      lo = Math.min(lo, 0);
      hi = Math.max(hi, 0);
    }
    const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.001 || 1;
    const y = d3
      .scaleLinear()
      .domain([lo - pad, hi + pad])
      .range([h, 0]);
    g.append("g")
      .attr("transform", `translate(0,${h})`)
      .call(
        d3
          .axisBottom(x)
          .ticks(Math.max(2, Math.floor(w / 110)))
          .tickFormat((d) => utcTime(d as Date))
          .tickSizeOuter(0),
      )
      .attr("class", "text-muted-foreground");
    g.append("g")
      .attr("transform", `translate(${w},0)`)
      .call(d3.axisRight(y).ticks(5).tickFormat((v) => format(v as number)).tickSize(-w))
      .attr("class", "text-muted-foreground")
      .call((axis) => axis.selectAll(".tick line").attr("stroke-opacity", 0.12))
      .call((axis) => axis.select(".domain").remove());
    if (zeroLine) {
      g.append("line")
        .attr("x1", 0)
        .attr("x2", w)
        .attr("y1", y(0))
        .attr("y2", y(0))
        .attr("stroke", "currentColor")
        .attr("stroke-opacity", 0.4)
        .attr("stroke-dasharray", "3 3");
    }
    for (const s of series) {
      const line = d3
        .line<{ t: number; v: number }>()
        .x((p) => x(p.t))
        .y((p) => y(p.v))
        .curve(s.step ? d3.curveStepAfter : d3.curveLinear);
      g.append("path")
        .datum(s.points)
        .attr("class", "series")
        .attr("fill", "none")
        .attr("stroke", s.color)
        .attr("stroke-width", 1.5)
        .attr("d", line);
    }
  }, [series, width, height, format, zeroLine]);

  return (
    <figure ref={box} className="w-full" aria-label={label}>
      <svg ref={svgRef} width={width} height={height} role="img" aria-label={label} className="text-[10px]" />
      <figcaption className="flex gap-4 text-xs text-muted-foreground">
        {series.map((s) => (
          <span key={s.name} className="flex items-center gap-1">
            <span className="inline-block h-0.5 w-4" style={{ background: s.color }} />
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
