// Class table of the moving-shapes data set: id = shape * 16 + colour * 4 + direction.
// Mirrored in models/tiny/data.py; keep the orders identical.

export const SHAPES = ['circle', 'square', 'triangle'] as const;
export const COLOURS = ['red', 'green', 'blue', 'yellow'] as const;
export const DIRECTIONS = ['right', 'left', 'down', 'up'] as const;

export type Shape = (typeof SHAPES)[number];
export type Colour = (typeof COLOURS)[number];
export type Direction = (typeof DIRECTIONS)[number];

export const NUM_CLASSES = 48;
/** Id of the unconditional ("null") label used for classifier-free guidance. */
export const NULL_CLASS = 48;

/** Clean RGB of each colour on the 0..255 scale, indexed like COLOURS. */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [220, 40, 40],
  [40, 200, 60],
  [50, 90, 230],
  [230, 210, 40],
];

/** Unit step of each direction in image coordinates (x right, y down), indexed like DIRECTIONS. */
export const DIRECTION_STEP: readonly (readonly [number, number])[] = [
  [1, 0],
  [-1, 0],
  [0, 1],
  [0, -1],
];

export interface ClassParts {
  readonly shape: number;
  readonly colour: number;
  readonly direction: number;
}

export function classParts(cls: number): ClassParts {
  checkClass(cls);
  return { shape: Math.floor(cls / 16), colour: Math.floor(cls / 4) % 4, direction: cls % 4 };
}

export function className(cls: number): string {
  const p = classParts(cls);
  return `${COLOURS[p.colour]} ${SHAPES[p.shape]} ${DIRECTIONS[p.direction]}`;
}

export const CLASS_NAMES: readonly string[] = Array.from({ length: NUM_CLASSES }, (_, i) => className(i));

export function checkClass(cls: number): void {
  if (!Number.isInteger(cls) || cls < 0 || cls >= NUM_CLASSES) {
    throw new Error(`class id must be an integer in [0, ${NUM_CLASSES - 1}], got ${cls}`);
  }
}

const USAGE =
  `expected a class id 0..${NUM_CLASSES - 1} or a name of one colour (${COLOURS.join('|')}), ` +
  `one shape (${SHAPES.join('|')}) and one direction (${DIRECTIONS.join('|')}) in any order, e.g. "red circle right"`;

/** Parses "7", 7, "red circle right" or "Right RED circle" to a class id. */
export function classId(nameOrId: string | number): number {
  if (typeof nameOrId === 'number') {
    if (!Number.isInteger(nameOrId) || nameOrId < 0 || nameOrId >= NUM_CLASSES) {
      throw new Error(`invalid class ${nameOrId}: ${USAGE}`);
    }
    return nameOrId;
  }
  const text = nameOrId.trim();
  if (/^\d+$/.test(text)) return classId(Number(text));
  const words = text.toLowerCase().split(/[\s_,-]+/).filter((w) => w.length > 0);
  const pick = (table: readonly string[]): number[] => words.map((w) => table.indexOf(w)).filter((i) => i >= 0);
  const s = pick(SHAPES);
  const c = pick(COLOURS);
  const d = pick(DIRECTIONS);
  if (words.length !== 3 || s.length !== 1 || c.length !== 1 || d.length !== 1) {
    throw new Error(`invalid class "${nameOrId}": ${USAGE}`);
  }
  return s[0]! * 16 + c[0]! * 4 + d[0]!;
}
