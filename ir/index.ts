export * from './dtype.ts';
export * from './types.ts';
export * from './ops.ts';
export * from './errors.ts';
export * from './node.ts';
export * from './infer.ts';
export * from './graph.ts';
