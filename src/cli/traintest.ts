/**
 * Train/test prototxts in quantize and simulate: the deploy net CHaiDNN runs (src/graph/deploy.ts), and the input's
 * transform_param (a train/test net's data layer, or the Input a conversion left) as the default of the
 * preprocessing flags. Caffe's DataTransformer computes (pixel − mean)·scale on 0..255 pixels: raw_scale 255,
 * mean_value/mean_file, input_scale = scale. Flags given win, with a warning when they make another input.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { inputTransform, isTrainTestNet, testDataLayer, trainTestToDeploy } from '../graph/deploy';
import type { DeployConversion } from '../graph/deploy';
import { buildNet, locOfMsg } from '../graph/build';
import type { Net } from '../graph/types';
import type { LoadedModel } from '../graph/load';
import type { Tensor } from '../tensor';
import type { PrecisionPlan } from '../quant/plan';
import { applyPlan, applyPlanToNetParam } from '../print/precision';
import { printMessage } from '../print/format';
import { parsePrototxt } from '../../grammar';
import type { Preprocess } from '../io/images';
import type { Msg, NetParam } from '../proto/message';
import { formatPy2Float } from '../io/floatfmt';
import { netInputDims, parseList } from './preprocess';
import type { PreprocessArgs } from './preprocess';

function arr<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** The transform's mean file: as written (from here), else next to the prototxt. */
function resolveMeanFile(name: string, prototxt: string): string | undefined {
  for (const f of [path.resolve(name), path.resolve(path.dirname(prototxt), name)]) if (fs.existsSync(f)) return f;
  return undefined;
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));
const list = (v: number[]) => v.map((x) => formatPy2Float(x)).join(',');

/**
 * `args` with raw_scale, mean and input_scale defaulted from the net's input transform_param (unchanged when it has
 * none). `file` is the prototxt (for mean_file paths and messages).
 */
export function withTransformDefaults<A extends PreprocessArgs>(args: A, net: NetParam, file: string, warn: WarnFn): A {
  const found = inputTransform(net);
  if (!found) return args;
  const { layer, transform: t } = found;
  const where = `the ${layer.type} layer '${layer.name}' (transform_param)`;
  const loc = locOfMsg(layer, file) ?? { file };
  const scale = t.scale === undefined ? 1 : Number(t.scale);
  const meanValues = arr<number>(t.mean_value).map(Number);
  const meanFile = t.mean_file === undefined ? undefined : String(t.mean_file);
  const out: A = { ...args };
  const r = args.raw_scale ?? 255;
  const s = args.input_scale ?? scale;
  out.raw_scale = r;
  out.input_scale = s;
  // each flag not given takes the transform's value; what the flags make of a 0..255 pixel: (pixel − mean·255/r)·(r·s/255)
  if (!near((r * s) / 255, scale)) {
    warn(`--raw_scale ${formatPy2Float(r)} --input_scale ${formatPy2Float(s)} scale the pixels by ${formatPy2Float((r * s) / 255)}, ${where} by ${formatPy2Float(scale)}: using the flags`, loc);
  }
  const crop = Number(t.crop_size ?? 0);
  if (crop > 0) warn(`${where} crops the stored images to ${crop}×${crop} at their centre; chaiq resizes each image to the input's size instead: give images cropped so`, loc);
  const userMean = args.mean_value !== undefined || args.mean_file !== undefined;
  if (!userMean) {
    if (meanFile !== undefined) {
      const f = resolveMeanFile(meanFile, file);
      if (!f) {
        throw new ChaiqError(`${where} subtracts mean_file "${meanFile}", which is not found (from here or next to the prototxt): give --mean_file FILE or --mean_value`, loc, 1);
      }
      out.mean_file = f;
    } else if (meanValues.length) {
      out.mean_value = meanValues.map(String).join(',');
    } else out.mean_value = '0';
  } else if (args.mean_value !== undefined) {
    const given = parseList(args.mean_value, 'mean_value').map((m) => (m * 255) / r);
    const want = meanValues.length ? meanValues : meanFile === undefined ? [0] : undefined;
    const same = want !== undefined && (given.length === want.length || given.length === 1 || want.length === 1) &&
      given.every((g, i) => near(g, want[want.length === 1 ? 0 : i])) && want.every((w, i) => near(w, given[given.length === 1 ? 0 : i]));
    if (!same) warn(`--mean_value ${args.mean_value} differs from ${where}, which subtracts ${want ? list(want) : `mean_file "${meanFile}"`}: using the flags`, loc);
  } else if (meanFile === undefined || path.basename(meanFile) !== path.basename(args.mean_file!)) {
    warn(`--mean_file ${args.mean_file} differs from ${where}, which subtracts ${meanFile !== undefined ? `mean_file "${meanFile}"` : list(meanValues.length ? meanValues : [0])}: using the flags`, loc);
  }
  return out;
}

/**
 * The transform_param that makes what `pre` made (on 0..255 pixels), for the Input of a converted net; undefined
 * when a mean image was scaled (no file holds it).
 */
export function transformOf(pre: Preprocess, meanFile: string | undefined): Msg | undefined {
  const k = 255 / pre.rawScale;
  const t: Msg = {};
  const scale = Math.fround(pre.inputScale * (pre.rawScale / 255));
  if (scale !== 1) t.scale = scale;
  if (Array.isArray(pre.mean)) {
    const m = pre.mean.map((x) => x * k);
    if (m.some((x) => x !== 0)) t.mean_value = m;
  } else if (meanFile !== undefined && k === 1) t.mean_file = meanFile;
  else return undefined;
  return t;
}

/** The net's Input layer with `t` as its transform_param (removed when undefined). */
export function setInputTransform(net: NetParam, t: Msg | undefined): NetParam {
  const layer = net.layer.map((l) => {
    if (l.type !== 'Input' || arr(l.bottom).length) return l;
    const c = { ...l };
    if (t) c.transform_param = t;
    else delete c.transform_param;
    return c;
  });
  return { ...net, layer };
}

export interface TrainTestModel {
  conversion: DeployConversion;
  net: Net;
  netParam: NetParam;
  /** the data layer's transform_param as written */
  transform?: Msg;
}

/**
 * A train/test net → its deploy net (src/graph/deploy.ts), rebuilt with the weights already matched by name;
 * undefined for a deploy net. `dims` (C,H,W) from --dims, else the data layer's own shape.
 */
export function deployOfTrainTest(m: LoadedModel, file: string, dims: readonly number[] | undefined, warn: WarnFn): TrainTestModel | undefined {
  if (!isTrainTestNet(m.net)) return undefined;
  const data = testDataLayer(m.net);
  const d = dims ?? netInputDims(m.graph);
  if (data && !d) {
    throw new ChaiqError(`the ${data.type} layer '${data.name}' does not say the input's shape (it is in the data source): give --dims C,H,W`, locOfMsg(data, file) ?? { file }, 2);
  }
  const conversion = trainTestToDeploy(m.net, d ?? [], file);
  const weights = new Map<string, Tensor[]>();
  for (const l of m.graph.layers) if (l.blobs.length) weights.set(l.name, l.blobs);
  const net = buildNet(conversion.net, { file, weights, warn, ...(d ? { inputShape: [1, ...d] } : {}) });
  return { conversion, net, netParam: conversion.net, transform: data?.transform_param };
}

/** A converted net, printed canonically with the plan's blocks spliced in (it has no text of its own). */
export function printDeployNet(net: NetParam, plan: PrecisionPlan, file: string, warn: WarnFn, inputShape?: number[]): string {
  warn('a train/test net is written as its deploy net (TEST phase, Input layer, no loss/accuracy), printed canonically', { file });
  return applyPlan(parsePrototxt(printMessage('caffe.NetParameter', applyPlanToNetParam(net, new Map())), file), plan, { warn, inputShape });
}
