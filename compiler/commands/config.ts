import type { Argv } from 'yargs';
import { modelDims } from '../model/config.ts';
import { getPreset } from '../model/presets.ts';
import { emit, type GlobalArgs } from './output.ts';

export const configCommand = {
  command: 'config <preset>',
  describe: "print a preset's model config (the JSON the PyTorch mirror models/torch/vdit.py reads) and its sizes",
  builder: (y: Argv) => y.positional('preset', { type: 'string', describe: 'preset name' }),
  handler: (args: GlobalArgs & { preset: string }) => {
    const cfg = getPreset(args.preset);
    const d = modelDims(cfg);
    emit(args, cfg, () =>
      [
        JSON.stringify(cfg, null, 2),
        `tokens: ${d.videoTokens} video (${d.grid.join('×')}) + ${d.textTokens} text; head dim ${d.headDim}`,
      ].join('\n'),
    );
  },
};
