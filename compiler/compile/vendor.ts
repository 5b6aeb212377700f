import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Libraries a compiled folder carries as files instead of as npm dependencies, so that its package.json names
 * `webgpu` alone (the one native dependency that must come from npm). Each is the library's own published build,
 * copied byte for byte with its licence; run.js imports it by relative path (emit-run.ts rewrites the specifier).
 */
export interface VendoredModule {
  /** the bare specifier our sources import */
  readonly specifier: string;
  /** the published ES module build, relative to the package root */
  readonly build: string;
  readonly license: string;
  /** path inside the compiled folder */
  readonly as: string;
}

export const VENDORED: readonly VendoredModule[] = [
  { specifier: 'gifenc', build: 'dist/gifenc.esm.js', license: 'LICENSE.md', as: 'vendor/gifenc.mjs' },
];

const require = createRequire(import.meta.url);

/** run.js's import specifier for a package: './vendor/…' for vendored ones, unchanged otherwise. */
export function runJsSpecifier(specifier: string): string {
  const v = VENDORED.find((m) => m.specifier === specifier);
  return v ? `./${v.as}` : specifier;
}

/** Files to write into a compiled folder: each vendored build and its licence, with the version recorded. */
export function vendoredFiles(): { readonly path: string; readonly bytes: Buffer }[] {
  return VENDORED.flatMap((m) => {
    const root = dirname(require.resolve(`${m.specifier}/package.json`));
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const header = Buffer.from(`// ${m.specifier} ${version} (${m.build}), vendored by vdit compile; licence beside it\n`);
    return [
      { path: m.as, bytes: Buffer.concat([header, readFileSync(join(root, m.build))]) },
      { path: `${m.as.replace(/\.m?js$/, '')}.LICENSE.md`, bytes: readFileSync(join(root, m.license)) },
    ];
  });
}
