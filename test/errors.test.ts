import { describe, expect, it } from 'vitest';
import { FedsecError, InvalidArgumentError, isFedsecError } from '../common/errors.ts';
import { assertBytes, assertFiniteVector, assertInt } from '../common/validate.ts';

describe('typed errors', () => {
  it('carry a stable code and the field name', () => {
    try {
      assertInt('threshold', 0, 1, 10);
      expect.unreachable();
    } catch (e) {
      expect(isFedsecError(e, 'ERR_INVALID_ARGUMENT')).toBe(true);
      expect((e as InvalidArgumentError).field).toBe('threshold');
      expect((e as Error).message).toMatch(/threshold/);
    }
  });
  it('name the first non-finite element', () => {
    expect(() => assertFiniteVector('update', [1, 2, Number.NaN])).toThrowError(/element 2 is NaN/);
    expect(() => assertFiniteVector('update', new Float64Array([Infinity]))).toThrowError(/element 0 is Infinity/);
  });
  it('reject wrong byte lengths', () => {
    expect(() => assertBytes('key', new Uint8Array(31), 32)).toThrow(FedsecError);
  });
  it('serialize without stack or secrets', () => {
    const e = new InvalidArgumentError('seed', 'bad length');
    expect(e.toJSON()).toEqual({ code: 'ERR_INVALID_ARGUMENT', name: 'InvalidArgumentError', message: 'seed: bad length', details: { field: 'seed' } });
  });
});
