// Every amount on both pages is rendered here, from the API's integer micro-dollars, exactly:
// no floating point, so the page shows to the micro what the API returned, and sub-cent costs
// stay visible ($0.000042) instead of rounding to $0.00.

import { h } from "./dom.js";

const MICROS_PER_DOLLAR = 1_000_000n;
const grouping = new Intl.NumberFormat("en-US");

export function formatMicros(micros) {
  const value = BigInt(micros);
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const dollars = magnitude / MICROS_PER_DOLLAR;
  // Six places, then trailing zeros dropped down to whole cents: $20.00, $1.50, $0.000123.
  let fraction = (magnitude % MICROS_PER_DOLLAR).toString().padStart(6, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  return `${negative ? "−" : ""}$${grouping.format(dollars)}.${fraction}`;
}

export function formatCents(cents) {
  return formatMicros(BigInt(cents) * 10_000n);
}

// An amount as an element: the exact micros stay machine-readable in `value`.
export function money(micros) {
  const negative = BigInt(micros) < 0n;
  return h("data", { class: negative ? "negative" : null, value: String(micros) }, formatMicros(micros));
}

export function count(value) {
  return grouping.format(value);
}
