/**
 * The pool worker's source (./threads.ts starts it through the host: worker_threads in Node, Web Workers in
 * browsers) and the command-buffer layout it shares with the calling thread. A worker waits for a new generation
 * in its seq word (bounded spin, then Atomics.wait), claims it (compareExchange on its claim word: the calling
 * thread may have taken the share over), runs it, stores the generation in its done word and notifies.
 *
 * Three kinds of job, told apart by the command-word count (ctl[base + 3]): > 0, a command list (function index,
 * argument count, arguments) as f64 words; < 0, task mode (a shared counter hands out command lists); 0, a page
 * touch (ThreadPool.touchPages): one value-preserving compareExchange(w, i, 0, 0) per 4 KiB page of the pages
 * [ctl[base + 12], ctl[base + 13]), last page first, the stop word ctl[base + 14] checked every TOUCH_CHUNK pages,
 * the lowest page touched so far stored in ctl[base + 15]. A real list is never empty, so 0 is free for it. Touch
 * jobs do not count as shares. compareExchange, not Atomics.add: V8's add is a load then a locked exchange, so a
 * fresh page takes two faults (the zero page mapped for the read, then copied for the write: ~3 us/page here);
 * compareExchange is one locked write, one fault (~1.5 us/page).
 */

/** Most arguments a kernel takes (workers call with exactly this many). */
export const MAX_ARGS = 16;
/** Argument sentinels replaced, in task mode, by the running thread's B panel / scratch tile (see runTasks). */
export const THREAD_PANEL = -1000001;
export const THREAD_SCRATCH = -1000002;
/** Byte offset of the f64 command words in a task buffer of `nTasks` tasks (8-byte aligned). */
export const TASK_DATA = (nTasks: number) => Math.ceil((8 + 4 * (nTasks + 1)) / 8) * 8;
const TASK_DATA_SRC = '(n) => Math.ceil((8 + 4 * (n + 1)) / 8) * 8';
/** Control words of a touch job, relative to the worker's base: first page, end page, stop, page reached. */
export const TOUCH = { from: 12, to: 13, stop: 14, reached: 15 } as const;
/** Pages a touch job touches between two looks at its stop word (~64 faults: ~0.1 ms). */
const TOUCH_CHUNK = 64;

/** Worker body; the host's preamble defines workerData (a WorkerInit) and report(text). */
export const WORKER_BODY = `
const { module, memory, base, names } = workerData;
const inst = new WebAssembly.Instance(module, { env: { mem: memory } });
const fns = names.map((n) => inst.exports[n]);
const ctl = new Int32Array(memory.buffer, 0, 1024);
Atomics.store(ctl, base + 8, 1);
let seen = 0;
let l0 = 0;
let l1 = 0;
const TASK_DATA = ${TASK_DATA_SRC};
const MAX_ARGS = ${MAX_ARGS};
const v = (a) => (a === ${THREAD_PANEL} ? l0 : a === ${THREAD_SCRATCH} ? l1 : a);
// direct calls with MAX_ARGS arguments (wasm ignores extras; buffers carry MAX_ARGS words of padding)
function exec(cmd, i, n) {
  while (i < n) {
    const f = fns[cmd[i]];
    const j = i + 2;
    f(${Array.from({ length: 16 }, (_, a) => `v(cmd[j + ${a}])`).join(', ')});
    i = j + cmd[i + 1];
  }
}
// page touch, from the last page down (the calling thread allocates upwards from the first one meanwhile, so the
// two rarely fault the same page); the memory may have grown since this worker started, so a fresh view of it
function touch() {
  const w = new Int32Array(memory.buffer);
  const first = ctl[base + ${TOUCH.from}];
  let p = ctl[base + ${TOUCH.to}];
  while (p > first && Atomics.load(ctl, base + ${TOUCH.stop}) === 0) {
    const e = Math.max(first, p - ${TOUCH_CHUNK});
    while (p > e) Atomics.compareExchange(w, --p << 10, 0, 0);
    Atomics.store(ctl, base + ${TOUCH.reached}, p);
  }
}
for (;;) {
  let g = Atomics.load(ctl, base);
  for (let s = 0; s < 20000 && g === seen; s++) g = Atomics.load(ctl, base);
  if (g === seen) { Atomics.wait(ctl, base, seen); continue; }
  seen = g;
  if (Atomics.load(ctl, base + 5) === 1) break;
  if (Atomics.compareExchange(ctl, base + 9, -g, g) !== -g) continue; // taken over by the calling thread
  const n = ctl[base + 3];
  if (n === 0) touch();
  else {
    Atomics.add(ctl, base + 10, 1);
    try {
      const ptr = ctl[base + 2] >>> 0;
      if (n > 0) exec(new Float64Array(memory.buffer, ptr, n + MAX_ARGS), 0, n);
      else {
        // task mode: [counter, nTasks, offsets[nTasks + 1]] (i32) then the f64 command words
        const hdr = new Int32Array(memory.buffer, ptr, 2);
        const nTasks = hdr[1];
        const offs = new Int32Array(memory.buffer, ptr + 8, nTasks + 1);
        const cmd = new Float64Array(memory.buffer, ptr + TASK_DATA(nTasks), -n + MAX_ARGS);
        l0 = ctl[base + 6];
        l1 = ctl[base + 7];
        for (let t = Atomics.add(hdr, 0, 1); t < nTasks; t = Atomics.add(hdr, 0, 1)) exec(cmd, offs[t], offs[t + 1]);
      }
    } catch (e) {
      Atomics.store(ctl, base + 4, 1);
      report(String((e && e.stack) || e));
    }
  }
  Atomics.store(ctl, base + 1, g);
  Atomics.notify(ctl, base + 1);
}
`;
