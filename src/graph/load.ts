/**
 * Loading a net from disk: prototxt → CST → bound NetParameter → upgraded to V2 (src/proto/upgrade.ts),
 * and prototxt + caffemodel → Net with weights attached.
 */
import * as fs from 'fs';
import { parsePrototxt } from '../../grammar';
import type { PrototxtDoc } from '../../grammar/cst';
import { ChaiqError, type WarnFn } from '../errors';
import { fsCode, fsErrorWords } from '../io/fserr';
import { binaryKind, binaryMessage } from '../io/sniff';
import { buildNet, type BuildOptions } from './build';
import type { Net } from './types';
import { bindMessage, locOf } from '../proto/bind';
import { readCaffemodel } from '../proto/caffemodel';
import type { NetParam } from '../proto/message';
import { upgradeNet, type SourceVersion } from '../proto/upgrade';

export interface LoadedNetText {
  /** the lossless CST (the printer edits this text) */
  doc: PrototxtDoc;
  /** the bound net, upgraded to V2 (`layer`, string types, an Input layer for `input:`) */
  net: NetParam;
  /** V0/V1 nets must be written back upgraded to V2 */
  sourceVersion: SourceVersion;
  /** `input:`/`input_dim`/`input_shape` became an Input layer */
  inputUpgraded: boolean;
}

/**
 * Reads a text input named on the command line. A path that does not exist is a usage error (2); a
 * binary file (a caffemodel, an image) is bad input (1) said in words, before any lexing.
 */
export function readTextFile(file: string, what = 'prototxt'): string {
  let buf: Buffer;
  try {
    buf = file === '-' ? fs.readFileSync(0) : fs.readFileSync(file);
  } catch (e) {
    const code = fsCode(e);
    if (code === 'ENOENT') throw new ChaiqError(`${what} not found`, { file }, 2);
    if (code === 'EISDIR') throw new ChaiqError(`is a directory, not a ${what}`, { file }, 2);
    if (code === 'ENOTDIR') throw new ChaiqError(`${what} not found (a part of the path is not a directory)`, { file }, 2);
    throw new ChaiqError(`cannot read ${what}: ${fsErrorWords(e)}`, { file }, 2);
  }
  const kind = binaryKind(buf);
  if (kind) throw new ChaiqError(binaryMessage(kind, what), { file: file === '-' ? '<stdin>' : file });
  return buf.toString('utf8');
}

/** Read, parse, bind and upgrade a prototxt. Bad input → ChaiqError with file:line:col. */
export function loadNetText(file: string, opts: { warn?: WarnFn; text?: string } = {}): LoadedNetText {
  const text = opts.text ?? readTextFile(file);
  const doc = parsePrototxt(text, file);
  const bound = bindMessage(doc, 'caffe.NetParameter');
  const up = upgradeNet(bound, { file, warn: opts.warn, locOf });
  return { doc, net: up.net, sourceVersion: up.sourceVersion, inputUpgraded: up.inputUpgraded };
}

export interface LoadedModel extends LoadedNetText {
  graph: Net;
}

/**
 * Deploy prototxt (+ optional caffemodel) → Net. Only the deploy layers' blobs are read from the
 * caffemodel (it often holds the training net); they are matched by name and checked against the
 * shapes each layer expects.
 */
export function loadModel(prototxt: string, caffemodel?: string, opts: Omit<BuildOptions, 'file' | 'weights' | 'weightsFile'> = {}): LoadedModel {
  const t = loadNetText(prototxt, { warn: opts.warn });
  let weights: BuildOptions['weights'];
  if (caffemodel) {
    const names = new Set(t.net.layer.map((l) => String(l.name ?? '')));
    weights = readCaffemodel(caffemodel, { only: (n) => names.has(n) }).weights;
  }
  const graph = buildNet(t.net, { ...opts, file: prototxt, weights, weightsFile: caffemodel });
  return { ...t, graph };
}
