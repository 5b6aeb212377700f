export * from './pass.ts';
export * from './pattern.ts';
export * from './pipeline.ts';
export * from './registry.ts';
export * from './plugin.ts';
export { canonicalize, CANONICALIZE_RULES } from './canonicalize.ts';
export { dce } from './dce.ts';
export { fuseElementwise } from './fuse-elementwise.ts';
