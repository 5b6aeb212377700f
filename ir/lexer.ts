import {
  createToken, EOF, Lexer, tokenLabel, type IParserErrorMessageProvider, type IToken, type TokenType,
} from 'chevrotain';
import { ParseError } from './errors.ts';

// Tokens shared by the graph text and the fused-expression text; labels are what error messages show.
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /\/\/[^\n\r]*/, group: Lexer.SKIPPED });
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });
export const GraphKw = createToken({ name: 'GraphKw', pattern: /graph/, longer_alt: Identifier, label: "'graph'" });
export const ReturnKw = createToken({ name: 'ReturnKw', pattern: /return/, longer_alt: Identifier, label: "'return'" });
export const TrueKw = createToken({ name: 'TrueKw', pattern: /true/, longer_alt: Identifier, label: "'true'" });
export const FalseKw = createToken({ name: 'FalseKw', pattern: /false/, longer_alt: Identifier, label: "'false'" });
// Infinity and NaN are numbers so that const{value=-Infinity} (additive masks) round-trips
export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: /-?(?:Infinity|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|NaN/,
  longer_alt: Identifier,
  label: 'a number',
});
export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\n]|\\.)*"/, label: 'a string' });
/** %12 (a numbered node), %x or %"any name" (a graph input by name) */
export const ValueRef = createToken({
  name: 'ValueRef',
  pattern: /%(?:[0-9]+|[A-Za-z_][A-Za-z0-9_.]*|"(?:[^"\\\n]|\\.)*")/,
  label: 'a value (%name)',
});
export const ArgRef = createToken({ name: 'ArgRef', pattern: /\$[0-9]+/, label: 'an operand ($i)' });
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: "'}'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });

// order matters: keywords and numbers before Identifier
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace, Comment, GraphKw, ReturnKw, TrueKw, FalseKw, NumberLit, Identifier, StringLit, ValueRef, ArgRef,
  LCurly, RCurly, LParen, RParen, LBracket, RBracket, Comma, Colon, Equals,
];

const LEXER = new Lexer(ALL_TOKENS, { positionTracking: 'full', ensureOptimizations: false });

/** Tokens of the text, or a ParseError at the first character no token matches. */
export function tokenize(text: string): IToken[] {
  const r = LEXER.tokenize(text);
  const e = r.errors[0];
  if (e) {
    const ch = text.slice(e.offset, e.offset + Math.max(1, Math.min(e.length, 12)));
    throw new ParseError(`unexpected character ${JSON.stringify(ch)}`, e.line ?? 1, e.column ?? 1);
  }
  return r.tokens;
}

function shown(t: IToken | undefined): string {
  return !t || t.tokenType === EOF ? 'end of input' : `'${t.image}'`;
}

function alternatives(paths: TokenType[][]): string {
  const labels = [...new Set(paths.map((p) => (p[0] ? tokenLabel(p[0]) : 'end of input')))];
  return labels.length <= 1 ? (labels[0] ?? 'nothing') : `one of ${labels.join(', ')}`;
}

/** Messages of the form "expected ')' but found ','"; the caller prefixes line:column. */
export const MESSAGES: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${tokenLabel(expected)} but found ${shown(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant, ruleName }) =>
    `unexpected ${shown(firstRedundant)} after the end of the ${ruleName === 'expr' ? 'expression' : 'graph'}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual }) =>
    `expected ${alternatives(expectedPathsPerAlt.flat())} but found ${shown(actual[0])}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual }) =>
    `expected ${alternatives(expectedIterationPaths)} but found ${shown(actual[0])}`,
};

/** 1-based position of a token; end of input sits just after the last token. */
export function positionOf(t: IToken | undefined, tokens: readonly IToken[]): [number, number] {
  if (t && t.tokenType !== EOF && t.startLine !== undefined && t.startColumn !== undefined) {
    return [t.startLine, t.startColumn];
  }
  const last = tokens[tokens.length - 1];
  if (!last) return [1, 1];
  return [last.endLine ?? 1, (last.endColumn ?? 0) + 1];
}

/** Raises a ParseError pinned to a token. */
export function failAt(t: IToken, message: string): never {
  throw new ParseError(message, t.startLine ?? 1, t.startColumn ?? 1);
}

/** JSON-decodes a string token (its image includes the quotes). */
export function unquote(t: IToken): string {
  try {
    return JSON.parse(t.image) as string;
  } catch {
    return failAt(t, `invalid string literal ${t.image}`);
  }
}
