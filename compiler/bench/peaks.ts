import type { AdapterSummary } from '../../targets/target.ts';

/** Dense (no sparsity) datasheet peaks of one card, the denominators of the bench's "% of peak" columns. */
export interface CardPeak {
  readonly card: string;
  /** matched against the adapter's device and description, lower-cased */
  readonly match: RegExp;
  readonly int8Tops: number;
  readonly bf16Tflops: number;
}

// NVIDIA datasheets, dense figures (the sparse ones are 2×); Dawn names an H100 SXM 'nvidia-h100-80gb-hbm3'
export const CARD_PEAKS: readonly CardPeak[] = [
  { card: 'NVIDIA H100 SXM', match: /h100.*(sxm|hbm3)/, int8Tops: 1979, bf16Tflops: 989 },
  { card: 'NVIDIA H100 PCIe', match: /h100.*pcie/, int8Tops: 1513, bf16Tflops: 756 },
  { card: 'NVIDIA H100 NVL', match: /h100.*nvl/, int8Tops: 1671, bf16Tflops: 835 },
  { card: 'NVIDIA H200', match: /h200/, int8Tops: 1979, bf16Tflops: 989 },
  { card: 'NVIDIA A100', match: /a100/, int8Tops: 624, bf16Tflops: 312 },
];

/** The peak entry of this adapter, or undefined for a card not in the table (reports then omit % columns). */
export function cardPeak(adapter: AdapterSummary): CardPeak | undefined {
  const name = `${adapter.device} ${adapter.description}`.toLowerCase();
  return CARD_PEAKS.find((p) => p.match.test(name));
}
