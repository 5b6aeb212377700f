/** An IR invariant was broken (verifier, builder, pass); the message names the offending node in text form. */
export class IRError extends Error {
  override readonly name = 'IRError';
}

/** IR text that does not parse; line and column are 1-based. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${line}:${column}: ${message}`);
  }
}
