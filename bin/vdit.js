#!/usr/bin/env node
// The CLI is TypeScript run in place through tsx, so pass plugins written in TypeScript load the same way.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../compiler/cli.ts');
await main(process.argv.slice(2));
