import type { Argv } from 'yargs';
import { closeDevice, describeDevice, formatDeviceInfo, openDevice } from '../../runtime/device.ts';
import { emit, type GlobalArgs } from './output.ts';

export const devicesCommand = {
  command: 'devices',
  describe: 'show the WebGPU adapter Dawn opens: features, subgroup-matrix configs, limits, versions',
  builder: (y: Argv) =>
    y.option('adapter', { type: 'string', describe: 'substring of the adapter name to prefer (Dawn adapter= flag)' }),
  handler: async (args: GlobalArgs & { adapter?: string }) => {
    const gpu = await openDevice({ ...(args.adapter ? { adapter: args.adapter } : {}), allowFallback: true });
    try {
      const info = describeDevice(gpu);
      emit(args, info, () => formatDeviceInfo(info));
    } finally {
      closeDevice(gpu);
    }
  },
};
