/**
 * A tiny WebAssembly binary module builder: LEB128, the type/import/function/export/code sections and a
 * function body emitter (named params and locals, labelled structured control flow, i32 expressions from
 * ./emit-expr.ts) over the MVP + SIMD (0xfd prefix) + relaxed-SIMD opcodes of ./opcodes.ts.
 *
 * Invariants: every module imports exactly one memory, `env.mem`, with the limits given to `build()`, declared
 * shared unless `build()` is told otherwise (browsers without cross-origin isolation); functions take i32/f32
 * params and return nothing (kernels write to memory).
 */

import { BackendError } from '../../../errors.js';
import { Op, Simd } from './opcodes.js';

export { Op, Simd };

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

/** Unsigned LEB128. */
export function uleb(v: number, out: number[] = []): number[] {
  v >>>= 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 for 32-bit values. */
export function sleb(v: number, out: number[] = []): number[] {
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const UTF8 = new TextEncoder();

function encStr(s: string): number[] {
  const bytes = [...UTF8.encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** Named values of a function (params or locals): each name with its type, in declaration order. */
export type Slots = Readonly<Record<string, ValType>>;
/** The local index of each name of a `Slots`. */
export type Named<S extends Slots> = { readonly [K in keyof S]: number };

/** An i32 expression (./emit-expr.ts): a local's index, or a node that emits its operands then its operator. */
export type Expr = number | { readonly emit: (f: FnBuilder) => void };

/** A branch target: a block (br jumps past its end), loop (br jumps to its start) or if, by nesting depth. */
export interface Label {
  readonly depth: number;
}

/**
 * Emits one function body. Locals 0..params-1 are the params; `local()` / `locals()` add more. Control flow is
 * structured: `block`/`loop` hand their body a Label, and `br`/`brIf` take labels, not relative depths.
 */
export class FnBuilder {
  readonly code: number[] = [];
  private readonly extra: ValType[] = [];
  /** Open blocks, loops and ifs around the current position. */
  private depth = 0;
  constructor(
    readonly name: string,
    readonly params: readonly ValType[],
  ) {}

  /** Declare a new local; returns its index. */
  local(t: ValType): number {
    this.extra.push(t);
    return this.params.length + this.extra.length - 1;
  }
  /** Declare one local per name, in the object's key order: `const { i, acc } = f.locals({ i: I32, acc: V128 })`. */
  locals<S extends Slots>(spec: S): Named<S> {
    const out: Record<string, number> = {};
    for (const [name, t] of Object.entries(spec)) out[name] = this.local(t);
    return out as Named<S>;
  }
  /** Declare `n` locals of type t (an indexed family, e.g. one accumulator per register). */
  localArray(t: ValType, n: number): number[] {
    return Array.from({ length: n }, () => this.local(t));
  }
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  simd(op: number, ...imm: number[]): this {
    this.code.push(0xfd, ...uleb(op), ...imm);
    return this;
  }
  get(l: number): this {
    return this.op(Op.localGet, ...uleb(l));
  }
  set(l: number): this {
    return this.op(Op.localSet, ...uleb(l));
  }
  tee(l: number): this {
    return this.op(Op.localTee, ...uleb(l));
  }
  i32(v: number): this {
    return this.op(Op.i32Const, ...sleb(v));
  }
  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return this.op(Op.f32Const, ...b);
  }
  /** Memory access with byte offset (align given as log2). */
  mem(op: number, offset = 0, alignLog2 = 2): this {
    return this.op(op, alignLog2, ...uleb(offset));
  }
  vload(offset = 0): this {
    return this.simd(Simd.load, 4, ...uleb(offset));
  }
  vstore(offset = 0): this {
    return this.simd(Simd.store, 4, ...uleb(offset));
  }
  vsplatLoad(offset = 0): this {
    return this.simd(Simd.load32Splat, 2, ...uleb(offset));
  }
  /** Push an expression's value (a number is a local). */
  push(e: Expr): this {
    if (typeof e === 'number') return this.get(e);
    e.emit(this);
    return this;
  }
  /** local = expression. */
  assign(l: number, e: Expr): this {
    return this.push(e).set(l);
  }
  /** local += v (i32). */
  inc(l: number, v: number): this {
    return this.get(l).i32(v).op(Op.i32Add).set(l);
  }
  /** local += other local (i32). */
  incBy(l: number, other: number): this {
    return this.get(l).get(other).op(Op.i32Add).set(l);
  }
  /** Open a block; `br(end)` inside jumps past its end. */
  block(body: (end: Label) => void): this {
    this.op(Op.block, 0x40);
    return this.nested(body);
  }
  /** Open a loop; `br(top)` inside jumps back to its start. */
  loop(body: (top: Label) => void): this {
    this.op(Op.loop, 0x40);
    return this.nested(body);
  }
  /** if (pops i32) { then } else { otherwise }; both arms get the if's label (`br(end)` leaves the if). */
  if(then: (end: Label) => void, otherwise?: (end: Label) => void): this {
    this.op(Op.if, 0x40);
    const label = { depth: ++this.depth };
    then(label);
    if (otherwise) {
      this.op(Op.else);
      otherwise(label);
    }
    this.depth--;
    return this.op(Op.end);
  }
  /** Branch to a label (the relative depth is computed from the nesting). */
  br(l: Label): this {
    return this.op(Op.br, ...uleb(this.depth - l.depth));
  }
  /** Pop an i32; branch to the label when it is non-zero. */
  brIf(l: Label): this {
    return this.op(Op.brIf, ...uleb(this.depth - l.depth));
  }
  private nested(body: (l: Label) => void): this {
    const label = { depth: ++this.depth };
    body(label);
    this.depth--;
    return this.op(Op.end);
  }
  /**
   * for (i = from; i < to; i += step) body — `from`/`to` push an i32; `to` is re-evaluated each iteration.
   * The loop is guarded, so zero trips is fine. `body` gets the loop's exit label: `br(exit)` leaves the loop.
   */
  for(i: number, from: () => void, to: () => void, step: number, body: (exit: Label) => void): this {
    from();
    this.set(i);
    this.block((exit) => {
      this.get(i);
      to();
      this.op(Op.i32GeS).brIf(exit);
      this.loop((top) => {
        body(exit);
        this.inc(i, step);
        this.get(i);
        to();
        this.op(Op.i32LtS).brIf(top);
      });
    });
    return this;
  }
  /** for over [0, n) where n is a local. */
  range(i: number, n: number, body: (exit: Label) => void, step = 1): this {
    return this.for(
      i,
      () => this.i32(0),
      () => this.get(n),
      step,
      body,
    );
  }
  /** Encoded body (locals + code + end). */
  encode(): number[] {
    const groups: [number, ValType][] = [];
    for (const t of this.extra) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body: number[] = [...uleb(groups.length)];
    for (const [n, t] of groups) body.push(...uleb(n), t);
    body.push(...this.code, Op.end);
    return [...uleb(body.length), ...body];
  }
}

/** Collects functions and emits a module that imports a (shared) memory as `env.mem` and exports every function. */
export class ModuleBuilder {
  readonly fns: FnBuilder[] = [];

  /** Add an exported function with the given i32/f32 params (no results). */
  fn(name: string, params: readonly ValType[], body: (f: FnBuilder) => void): FnBuilder {
    const f = new FnBuilder(name, params);
    body(f);
    this.fns.push(f);
    return f;
  }
  /**
   * Add an exported function with named params (types in key order); the body receives the builder and each
   * param's local index by name: `m.kernel('relu', { a: I32, out: I32 }, (f, { a, out }) => ...)`.
   */
  kernel<P extends Slots>(name: string, params: P, body: (f: FnBuilder, p: Named<P>) => void): FnBuilder {
    const names = Object.keys(params);
    const idx: Record<string, number> = {};
    names.forEach((n, i) => {
      idx[n] = i;
    });
    return this.fn(name, Object.values(params), (f) => body(f, idx as Named<P>));
  }
  /** Function index, for `call`. */
  index(name: string): number {
    const i = this.fns.findIndex((f) => f.name === name);
    if (i < 0) throw new BackendError(`wasm module builder: no function named '${name}'`);
    return i;
  }

  build(minPages: number, maxPages: number, shared = true): Uint8Array {
    const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
    const sigKey = (f: FnBuilder) => f.params.join(',');
    const sigs: string[] = [];
    for (const f of this.fns) if (!sigs.includes(sigKey(f))) sigs.push(sigKey(f));
    const types: number[] = [...uleb(sigs.length)];
    for (const s of sigs) {
      const ps = s === '' ? [] : s.split(',').map(Number);
      types.push(0x60, ...uleb(ps.length), ...ps, 0);
    }
    const imports = [
      1,
      ...encStr('env'),
      ...encStr('mem'),
      0x02,
      shared ? 0x03 : 0x01,
      ...uleb(minPages),
      ...uleb(maxPages),
    ];
    const funcs = [...uleb(this.fns.length)];
    for (const f of this.fns) funcs.push(...uleb(sigs.indexOf(sigKey(f))));
    const exports = [...uleb(this.fns.length)];
    this.fns.forEach((f, i) => {
      exports.push(...encStr(f.name), 0x00, ...uleb(i));
    });
    const code = [...uleb(this.fns.length)];
    for (const f of this.fns) code.push(...f.encode());
    return new Uint8Array([
      0x00,
      0x61,
      0x73,
      0x6d,
      0x01,
      0x00,
      0x00,
      0x00,
      ...section(1, types),
      ...section(2, imports),
      ...section(3, funcs),
      ...section(7, exports),
      ...section(10, code),
    ]);
  }
}
