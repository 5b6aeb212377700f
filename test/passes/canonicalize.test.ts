import { describe, expect, it } from 'vitest';
import { parse } from '../../ir/index.ts';
import { canonicalize } from '../../passes/index.ts';
import { expectPass, ir, runPass } from './expect-pass.ts';

describe('canonicalize', () => {
  it('folds float constants through unary and binary ops, rounding to the dtype', () => {
    const stats = expectPass(
      canonicalize,
      `
      graph g(%x: f32[2,3]) {
        %0: f32[] = const{value=2}()
        %1: f32[] = const{value=0.1}()
        %2: f32[] = add(%0, %1)
        %3: f32[] = sqrt(%2)
        %4: f32[2,3] = mul(%x, %3)
        return %4
      }`,
      `
      graph g(%x: f32[2,3]) {
        %0: f32[] = const{value=${Math.fround(Math.sqrt(2 + Math.fround(0.1)))}}()
        %1: f32[2,3] = mul(%x, %0)
        return %1
      }`,
    );
    expect(stats.get('canonicalize.fold-binary')).toBe(1);
    expect(stats.get('canonicalize.fold-unary')).toBe(1);
  });

  it('folds into the broadcast shape and rounds f16 results to f16', () => {
    expectPass(
      canonicalize,
      `
      graph g(%x: f16[4]) {
        %0: f16[4] = const{value=1}()
        %1: f16[] = const{value=3}()
        %2: f16[4] = div(%0, %1)
        %3: f16[4] = add(%x, %2)
        return %3
      }`,
      `
      graph g(%x: f16[4]) {
        %0: f16[4] = const{value=0.333251953125}()
        %1: f16[4] = add(%x, %0)
        return %1
      }`,
    );
  });

  it('leaves integer arithmetic and NaN results unfolded', () => {
    const g = parse(ir(`
      graph g(%x: f32[2]) {
        %0: i32[] = const{value=7}()
        %1: i32[] = const{value=2}()
        %2: i32[] = div(%0, %1)
        %3: f32[] = const{value=-1}()
        %4: f32[] = sqrt(%3)
        %5: f32[2] = add(%x, %4)
        return %2, %5
      }`));
    expect(runPass(canonicalize, g).graph).toBe(g);
  });

  it('drops x+0, 0+x, x-0, x*1, 1*x, x/1 but keeps x*0 and broadcasting identities', () => {
    const stats = expectPass(
      canonicalize,
      `
      graph g(%x: f32[2,3]) {
        %0: f32[] = const{value=0}()
        %1: f32[] = const{value=1}()
        %2: f32[2,3] = add(%x, %0)
        %3: f32[2,3] = add(%0, %2)
        %4: f32[2,3] = sub(%3, %0)
        %5: f32[2,3] = mul(%4, %1)
        %6: f32[2,3] = mul(%1, %5)
        %7: f32[2,3] = div(%6, %1)
        %8: f32[2,3] = mul(%7, %0)
        %9: f32[4,2,3] = const{value=0}()
        %10: f32[4,2,3] = add(%x, %9)
        return %8, %10
      }`,
      `
      graph g(%x: f32[2,3]) {
        %0: f32[] = const{value=0}()
        %1: f32[2,3] = mul(%x, %0)
        %2: f32[4,2,3] = const{value=0}()
        %3: f32[4,2,3] = add(%x, %2)
        return %1, %3
      }`,
    );
    for (const r of ['add-zero', 'zero-add', 'sub-zero', 'mul-one', 'one-mul', 'div-one']) {
      expect(stats.get(`canonicalize.${r}`), r).toBe(1);
    }
  });

  it('removes double negation and identity casts', () => {
    expectPass(
      canonicalize,
      `
      graph g(%x: f32[3]) {
        %0: f32[3] = neg(%x)
        %1: f32[3] = neg(%0)
        %2: f32[3] = cast{to="f32"}(%1)
        %3: f16[3] = cast{to="f16"}(%2)
        return %3
      }`,
      `
      graph g(%x: f32[3]) {
        %0: f16[3] = cast{to="f16"}(%x)
        return %0
      }`,
    );
  });

  it('collapses reshape chains and identity reshapes', () => {
    expectPass(
      canonicalize,
      `
      graph g(%x: f32[2,3,4]) {
        %0: f32[6,4] = reshape{shape=[6,4]}(%x)
        %1: f32[24] = reshape{shape=[24]}(%0)
        %2: f32[2,12] = reshape{shape=[2,12]}(%1)
        %3: f32[2,3,4] = reshape{shape=[2,3,4]}(%0)
        %4: f32[2,3,4] = exp(%3)
        return %2, %4
      }`,
      `
      graph g(%x: f32[2,3,4]) {
        %0: f32[2,12] = reshape{shape=[2,12]}(%x)
        %1: f32[2,3,4] = exp(%x)
        return %0, %1
      }`,
    );
  });

  it('turns transpose into permute, composes permutes and drops identity permutes', () => {
    const stats = expectPass(
      canonicalize,
      `
      graph g(%x: f32[2,3,4,5]) {
        %0: f32[2,4,3,5] = transpose{dim0=1, dim1=-2}(%x)
        %1: f32[2,5,3,4] = permute{perm=[0,3,2,1]}(%0)
        %2: f32[2,3,4,5] = permute{perm=[0,2,3,1]}(%1)
        %3: f32[2,3,4,5] = tanh(%2)
        %4: f32[2,3,5,4] = transpose{dim0=2, dim1=3}(%3)
        return %4
      }`,
      `
      graph g(%x: f32[2,3,4,5]) {
        %0: f32[2,3,4,5] = tanh(%x)
        %1: f32[2,3,5,4] = permute{perm=[0,1,3,2]}(%0)
        return %1
      }`,
    );
    expect(stats.get('canonicalize.transpose-to-permute')).toBe(2);
    expect(stats.get('canonicalize.permute-identity')).toBe(1);
  });

  it('drops slices that cover the whole axis', () => {
    expectPass(
      canonicalize,
      `
      graph g(%x: f32[4,6]) {
        %0: f32[4,6] = slice{axis=1, end=6, start=0, step=1}(%x)
        %1: f32[4,3] = slice{axis=1, end=6, start=0, step=2}(%0)
        return %1
      }`,
      `
      graph g(%x: f32[4,6]) {
        %0: f32[4,3] = slice{axis=1, end=6, start=0, step=2}(%x)
        return %0
      }`,
    );
  });

  it('returns the same graph object when nothing applies, and rejects unknown options', () => {
    const g = parse(ir(`
      graph g(%x: f32[2]) {
        %0: f32[2] = exp(%x)
        return %0
      }`));
    expect(runPass(canonicalize, g).graph).toBe(g);
    expect(() => runPass(canonicalize, g, { fold: false })).toThrow(/unknown option 'fold'.*max-iterations/);
  });
});
