/**
 * JPEG decoding for Node with libjpeg-turbo semantics (the decoder PIL and torchvision use): MozJPEG's decoder
 * (a libjpeg-turbo fork) compiled to WebAssembly by @jsquash/jpeg. The .wasm is compiled and instantiated once,
 * at module load (top-level await), so `decodeJpegRgba` is synchronous. Browser bundles replace this file by
 * ./jpeg-browser.ts (package.json `browser` map).
 * Invariants: output is 8-bit RGBA, row-major; libjpeg's messages never reach the console: warnings that PIL
 * also tolerates ("Corrupt JPEG data: N extraneous bytes") are ignored, a fatal error or a truncated file
 * ("Premature end of JPEG file", which PIL refuses) throws an Error carrying libjpeg's own words.
 * 4-channel JPEGs (Adobe CMYK and YCCK, found in ImageNet-style folders) go through ./jpeg-four-channel.ts
 * (jpeg-js's entropy decoding, then libjpeg-turbo's integer IDCT, fancy upsampling and YCCK conversion and
 * Pillow's CMYK -> RGB): this build of libjpeg converts only to RGBA, and libjpeg has no CMYK -> RGB
 * conversion. The result equals PIL's `convert('RGB')` on the committed CMYK / YCCK fixtures.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import factory from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { initEmscriptenModule } from '@jsquash/jpeg/utils.js';
import { readImageHeader } from './image-header.js';
import { decodeFourChannelJpeg } from './jpeg-four-channel.js';

interface MozJpegDecoder {
  decode(data: Uint8Array, preserveOrientation: boolean): { data: Uint8ClampedArray; width: number; height: number };
}

/** The runtime's WebAssembly (the project's tsconfig has no DOM lib; @types/node does not declare it). */
const WA = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<object> } }).WebAssembly;

const messages: string[] = [];
const wasmFile = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
const decoder = (await initEmscriptenModule(factory, (await WA.compile(readFileSync(wasmFile))) as never, {
  print: (m: string) => messages.push(m),
  printErr: (m: string) => messages.push(m),
})) as unknown as MozJpegDecoder;

/** Messages that mean the pixels are not the file's (PIL raises on these too). */
const FATAL = /Premature end of JPEG file/;

/** Decode JPEG bytes to 8-bit RGBA. Throws an Error with libjpeg's message on corrupt or truncated data. */
export function decodeJpegRgba(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  if (readImageHeader(bytes)?.components === 4) return decodeFourChannelJpeg(bytes);
  messages.length = 0;
  let r: ReturnType<MozJpegDecoder['decode']> | null;
  try {
    r = decoder.decode(bytes, false);
  } catch {
    r = null; // libjpeg error_exit: the module reports exit(1); the reason is in `messages`
  }
  const fatal = messages.find((m) => FATAL.test(m));
  if (!r || fatal) {
    throw new Error(messages.length ? [...new Set(messages)].join('; ') : 'libjpeg could not decode the data');
  }
  return {
    data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
    width: r.width,
    height: r.height,
  };
}
