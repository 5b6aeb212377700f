import { EmbeddedActionsParser, type IToken } from 'chevrotain';
import { ParseError } from './errors.ts';
import { ALL_OPS, isOp, type AttrValue, type Op } from './ops.ts';
import * as T from './lexer.ts';

/**
 * The chevrotain grammar of the IR text and of fused expressions. It yields token-level syntax trees only; meaning
 * (numbers, names, types, nodes) is given by parse.ts and expr-text.ts, which keep the tokens for error positions.
 */
export type AttrValueAst = IToken | { readonly open: IToken; readonly items: readonly IToken[] };
export interface AttrAst {
  readonly key: IToken;
  readonly value: AttrValueAst;
}
export interface TypeAst {
  readonly dtype: IToken;
  readonly dims: readonly IToken[];
}
export interface InputAst {
  readonly ref: IToken;
  readonly type: TypeAst;
  readonly attrs: readonly AttrAst[];
}
export interface DefAst {
  readonly ref: IToken;
  readonly type: TypeAst;
  readonly op: IToken;
  readonly attrs: readonly AttrAst[];
  readonly args: readonly IToken[];
}
export interface GraphAst {
  readonly name: IToken;
  readonly inputs: readonly InputAst[];
  readonly body: readonly DefAst[];
  readonly ret: IToken;
  readonly outputs: readonly IToken[];
}
export type ExprAst =
  | { readonly kind: 'arg'; readonly tok: IToken }
  | { readonly kind: 'num'; readonly tok: IToken }
  | { readonly kind: 'op'; readonly op: IToken; readonly attrs: readonly AttrAst[]; readonly args: readonly ExprAst[] };

class TextParser extends EmbeddedActionsParser {
  constructor() {
    super(T.ALL_TOKENS, { errorMessageProvider: T.MESSAGES, recoveryEnabled: false, maxLookahead: 2 });
    this.performSelfAnalysis();
  }

  graphText = this.RULE('graphText', (): GraphAst => {
    this.CONSUME(T.GraphKw);
    const name = this.OR([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.StringLit) }]);
    this.CONSUME(T.LParen);
    const inputs: InputAst[] = [];
    this.MANY_SEP({ SEP: T.Comma, DEF: () => inputs.push(this.SUBRULE(this.inputDecl)) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.LCurly);
    const body: DefAst[] = [];
    this.MANY(() => body.push(this.SUBRULE(this.definition)));
    const ret = this.CONSUME(T.ReturnKw);
    const outputs: IToken[] = [];
    this.MANY_SEP2({ SEP: T.Comma, DEF: () => outputs.push(this.CONSUME2(T.ValueRef)) });
    this.CONSUME(T.RCurly);
    return { name, inputs, body, ret, outputs };
  });

  inputDecl = this.RULE('inputDecl', (): InputAst => {
    const ref = this.CONSUME(T.ValueRef);
    this.CONSUME(T.Colon);
    const type = this.SUBRULE(this.tensorType);
    const attrs = this.OPTION(() => this.SUBRULE(this.attrBlock)) ?? [];
    return { ref, type, attrs };
  });

  definition = this.RULE('definition', (): DefAst => {
    const ref = this.CONSUME(T.ValueRef);
    this.CONSUME(T.Colon);
    const type = this.SUBRULE(this.tensorType);
    this.CONSUME(T.Equals);
    const op = this.CONSUME(T.Identifier);
    const attrs = this.OPTION(() => this.SUBRULE(this.attrBlock)) ?? [];
    this.CONSUME(T.LParen);
    const args: IToken[] = [];
    this.MANY_SEP({ SEP: T.Comma, DEF: () => args.push(this.CONSUME2(T.ValueRef)) });
    this.CONSUME(T.RParen);
    return { ref, type, op, attrs, args };
  });

  tensorType = this.RULE('tensorType', (): TypeAst => {
    const dtype = this.CONSUME(T.Identifier);
    this.CONSUME(T.LBracket);
    const dims: IToken[] = [];
    this.MANY_SEP({ SEP: T.Comma, DEF: () => dims.push(this.CONSUME(T.NumberLit)) });
    this.CONSUME(T.RBracket);
    return { dtype, dims };
  });

  attrBlock = this.RULE('attrBlock', (): AttrAst[] => {
    this.CONSUME(T.LCurly);
    const attrs: AttrAst[] = [];
    this.MANY_SEP({ SEP: T.Comma, DEF: () => attrs.push(this.SUBRULE(this.attr)) });
    this.CONSUME(T.RCurly);
    return attrs;
  });

  attr = this.RULE('attr', (): AttrAst => {
    const key = this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    const value = this.OR([
      { ALT: () => this.SUBRULE(this.scalar) },
      {
        ALT: (): AttrValueAst => {
          const open = this.CONSUME(T.LBracket);
          const items: IToken[] = [];
          this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE2(this.scalar)) });
          this.CONSUME(T.RBracket);
          return { open, items };
        },
      },
    ]);
    return { key, value };
  });

  scalar = this.RULE('scalar', (): IToken =>
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.TrueKw) },
      { ALT: () => this.CONSUME(T.FalseKw) },
    ]),
  );

  expr = this.RULE('expr', (): ExprAst =>
    this.OR([
      { ALT: () => ({ kind: 'arg', tok: this.CONSUME(T.ArgRef) }) },
      { ALT: () => ({ kind: 'num', tok: this.CONSUME(T.NumberLit) }) },
      {
        ALT: (): ExprAst => {
          const op = this.CONSUME(T.Identifier);
          const attrs = this.OPTION(() => this.SUBRULE(this.attrBlock)) ?? [];
          this.CONSUME(T.LParen);
          const args: ExprAst[] = [];
          this.MANY_SEP({ SEP: T.Comma, DEF: () => args.push(this.SUBRULE(this.expr)) });
          this.CONSUME(T.RParen);
          return { kind: 'op', op, attrs, args };
        },
      },
    ]),
  );
}

const PARSER = new TextParser();

function run<R>(text: string, rule: (p: TextParser) => R): R {
  const tokens = T.tokenize(text);
  PARSER.input = tokens;
  const out = rule(PARSER);
  const err = PARSER.errors[0];
  if (err) {
    const [line, col] = T.positionOf(err.token, tokens);
    throw new ParseError(err.message, line, col);
  }
  return out;
}

export function parseGraphAst(text: string): GraphAst {
  return run(text, (p) => p.graphText());
}

export function parseExprAst(text: string): ExprAst {
  return run(text, (p) => p.expr());
}

function scalarValue(t: IToken): number | string | boolean {
  if (t.tokenType === T.NumberLit) return Number(t.image);
  if (t.tokenType === T.StringLit) return T.unquote(t);
  return t.tokenType === T.TrueKw;
}

function attrValue(v: AttrValueAst): AttrValue {
  if (!('open' in v)) return scalarValue(v);
  const items = v.items.map(scalarValue);
  if (items.every((x) => typeof x === 'number')) return items as number[];
  if (items.every((x) => typeof x === 'string')) return items as string[];
  return T.failAt(v.open, 'a list attribute must hold only numbers or only strings');
}

/** Attribute values of a parsed `{k=v, ...}` block; a repeated key is an error at its second use. */
export function attrsFromAst(ast: readonly AttrAst[]): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const { key, value } of ast) {
    if (Object.prototype.hasOwnProperty.call(out, key.image)) T.failAt(key, `attribute ${key.image} is given twice`);
    out[key.image] = attrValue(value);
  }
  return out;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The op named by a token, or a ParseError listing the closest known names. */
export function opOf(t: IToken): Op {
  if (isOp(t.image)) return t.image;
  const close = [...ALL_OPS]
    .map((op) => [op, editDistance(t.image, op)] as const)
    .sort((a, b) => a[1] - b[1])
    .slice(0, 3)
    .map(([op]) => op);
  return T.failAt(t, `unknown op '${t.image}' (did you mean ${close.join(', ')}?)`);
}
