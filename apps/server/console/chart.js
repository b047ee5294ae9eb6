// A bar chart of a daily series, drawn as SVG (no charting library to vendor for one kind of
// chart), with the same figures as a table for screen readers and for copying.

import { day, h, table } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
// Drawn at the width it is shown at, so that labels keep their size on a phone and on a wide
// screen alike.
const MIN_WIDTH = 260;
const HEIGHT = 180;
const PLOT = { left: 8, right: 8, top: 22, bottom: 22 };

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

// Replaces `container`'s content with one chart per spec: `days` ([{date, ...}]), `value(day)`
// the number to plot, `label(day)` the exact text of a day's figure. All figures are placed
// before any is drawn, so that each is measured at its final width.
export function showBarCharts(container, ...specs) {
  const figures = specs.map((spec) => h("figure", { class: "chart" }, h("figcaption", {}, spec.title)));
  container.replaceChildren(...figures);
  specs.forEach((spec, index) => draw(figures[index], spec));
}

function draw(figure, { title, days, value, label, alt = false }) {
  const WIDTH = Math.max(MIN_WIDTH, Math.round(figure.clientWidth));
  const values = days.map((entry) => Number(value(entry)));
  const max = Math.max(0, ...values);
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const slot = plotWidth / Math.max(1, days.length);
  const peakIndex = values.indexOf(max);
  const bars = days.map((entry, index) => {
    const height = max > 0 ? (values[index] / max) * plotHeight : 0;
    return svg(
      "rect",
      {
        class: alt ? "chart-bar alt" : "chart-bar",
        x: (PLOT.left + index * slot + slot * 0.12).toFixed(2),
        y: (PLOT.top + plotHeight - height).toFixed(2),
        width: (slot * 0.76).toFixed(2),
        height: height.toFixed(2),
      },
      svg("title", {}, `${day(entry.date)}: ${label(entry)}`),
    );
  });
  const first = days[0];
  const last = days[days.length - 1];
  const summary = max > 0
    ? `${title}: highest ${label(days[peakIndex])} on ${day(days[peakIndex].date)}`
    : `${title}: none in these ${days.length} days`;
  const picture = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": summary },
    svg("line", {
      class: "chart-axis",
      x1: PLOT.left,
      x2: WIDTH - PLOT.right,
      y1: PLOT.top + plotHeight,
      y2: PLOT.top + plotHeight,
    }),
    svg("text", { class: "chart-label", x: PLOT.left, y: 14 },
      max > 0 ? `max ${label(days[peakIndex])}` : "none"),
    ...bars,
    first ? svg("text", { class: "chart-label", x: PLOT.left, y: HEIGHT - 6 }, day(first.date)) : "",
    last
      ? svg("text", { class: "chart-label", x: WIDTH - PLOT.right, y: HEIGHT - 6, "text-anchor": "end" },
        day(last.date))
      : "",
  );
  const rows = days.slice().reverse().map((entry) =>
    h("tr", {}, h("td", {}, day(entry.date)), h("td", { class: "number" }, label(entry))));
  figure.append(
    picture,
    h("details", {}, h("summary", {}, `${title} as a table`), table(title, ["Day (UTC)", `#${title}`], rows)),
  );
}
