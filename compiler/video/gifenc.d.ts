// gifenc 1.0.3 ships no types; this covers the part compiler/video/gif.ts uses. Node loads its CommonJS build (the
// namespace holds only `default`), Vite its ESM build (named exports, default = GIFEncoder): see gif.ts.
declare module 'gifenc' {
  export type Palette = number[][];
  export type ColourFormat = 'rgb565' | 'rgb444' | 'rgba4444';
  export interface FrameOptions {
    palette?: Palette;
    delay?: number;
    repeat?: number;
    transparent?: boolean;
    transparentIndex?: number;
    dispose?: number;
  }
  export interface GifStream {
    writeFrame(index: Uint8Array, width: number, height: number, opts?: FrameOptions): void;
    finish(): void;
    bytes(): Uint8Array;
  }
  export interface GifLib {
    GIFEncoder(opts?: { auto?: boolean; initialCapacity?: number }): GifStream;
    quantize(rgba: Uint8Array, maxColors: number, opts?: { format?: ColourFormat }): Palette;
    applyPalette(rgba: Uint8Array, palette: Palette, format?: ColourFormat): Uint8Array;
  }
  export const GIFEncoder: GifLib['GIFEncoder'] | undefined;
  export const quantize: GifLib['quantize'] | undefined;
  export const applyPalette: GifLib['applyPalette'] | undefined;
  const lib: GifLib;
  export default lib;
}
