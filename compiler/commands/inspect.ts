import type { Argv } from 'yargs';
import { print } from '../../ir/print.ts';
import { verify } from '../../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { loadPassPlugin } from '../../passes/plugin.ts';
import { builtinPasses } from '../../passes/registry.ts';
import type { Pass } from '../../passes/pass.ts';
import { loadModel } from '../models.ts';
import { emit, type GlobalArgs } from './output.ts';

interface InspectArgs extends GlobalArgs {
  model: string;
  passes?: string;
  printAfter?: string;
  passPlugin?: string[];
}

export const inspectCommand = {
  command: 'inspect <model>',
  describe: 'print the IR of a model (a preset name or a file of IR text), optionally after passes',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', describe: 'preset name or IR text file' })
      .option('passes', {
        type: 'string',
        describe: `pass pipeline, e.g. "${DEFAULT_PIPELINE}" or "fuse-elementwise{min-ops=2}"; none by default`,
      })
      .option('print-after', {
        type: 'string',
        describe: 'print the IR after this pass, or after every pass with "all" (runs the default pipeline if --passes is absent)',
      })
      .option('pass-plugin', { type: 'string', array: true, describe: 'module exporting custom passes (.ts or .js)' })
      .example('$0 inspect tiny --passes "canonicalize,fuse-elementwise"', '')
      .example('$0 inspect tiny --pass-plugin ./examples/my-pass.ts --passes "canonicalize,swap-gelu-tanh"', ''),
  handler: async (args: InspectArgs) => {
    const model = loadModel(args.model);
    const registry = new Map<string, Pass>(builtinPasses());
    for (const file of args.passPlugin ?? []) for (const p of await loadPassPlugin(file)) registry.set(p.name, p);
    const text = args.passes ?? (args.printAfter ? DEFAULT_PIPELINE : '');
    const pipeline = parsePipeline(text, registry);
    const dumps: { after: string; ir: string }[] = [];
    const wanted = (name: string): boolean => args.printAfter === 'all' || args.printAfter === name;
    if (args.printAfter && args.printAfter !== 'all' && !pipeline.some((p) => p.pass.name === args.printAfter)) {
      throw new Error(`--print-after ${args.printAfter}: no such pass in the pipeline "${text}"`);
    }
    const result = runPipeline(model.graph, pipeline, {
      verify,
      onAfter: (name, g) => {
        if (wanted(name)) dumps.push({ after: name, ir: print(g) });
      },
    });
    const final = print(result.graph);
    emit(args, { model: model.name, pipeline: text, dumps, ir: final, stats: Object.fromEntries(result.stats) }, () =>
      args.printAfter ? dumps.map((d) => `// ----- IR after ${d.after} -----\n${d.ir}`).join('\n') : final.trimEnd(),
    );
  },
};
