/**
 * A train/test prototxt as the deploy net CHaiDNN runs (src/graph/deploy.ts, TEST phase, Input layer, no losses),
 * and the Input's transform_param of a converted net (what the calibration's preprocessing was).
 */
import { OptionError } from '../errors';
import type { WarnFn } from '../errors';
import { isTrainTestNet, testDataLayer, trainTestToDeploy } from '../graph/deploy';
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
import { netInputDims } from './input-dims';
import { isInputLayer } from '../layers/registry';

function arr<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
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
    if (!isInputLayer(l.type ?? '') || arr(l.bottom).length) return l;
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
 * undefined for a deploy net. `dims` (C,H,W) given, else the data layer's own shape.
 */
export function deployOfTrainTest(m: LoadedModel, file: string, dims: readonly number[] | undefined, warn: WarnFn): TrainTestModel | undefined {
  if (!isTrainTestNet(m.net)) return undefined;
  const data = testDataLayer(m.net);
  const d = dims ?? netInputDims(m.graph);
  if (data && !d) {
    throw new OptionError(`the ${data.type} layer '${data.name}' does not say the input's shape (it is in the data source): give {dims} C,H,W`, locOfMsg(data, file) ?? { file }, 2);
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
