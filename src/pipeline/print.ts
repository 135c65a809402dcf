/**
 * Print: the precision prototxt (the plan's blocks spliced into the input's own text, or a rewritten net printed
 * canonically), the caffemodel of a rewritten net, the ML-Suite JSON and the HTML report, as text or bytes; the
 * caller writes them.
 */
import * as path from 'path';
import type { WarnFn } from '../errors';
import type { Net } from '../graph/types';
import { deployNote } from '../graph/deploy';
import type { StatsCollector } from '../calib/stats';
import { printMessage } from '../print/format';
import { applyPlan, applyPlanToNetParam } from '../print/precision';
import { xdnnJson } from '../print/xdnn-json';
import type { LoadedModel } from '../graph/load';
import type { NetParam } from '../proto/message';
import { encodeCaffemodel } from '../proto/write-caffemodel';
import type { PrecisionPlan } from '../quant/plan';
import { quantizeReportData } from '../report/build';
import { renderReport } from '../report/html';
import { parsePrototxt } from '../../grammar';
import type { TrainTestModel } from './deploy';
import { printDeployNet } from './deploy';
import type { OptionNamer } from './types';
import { apiOptionName } from './types';

export interface PrintOptions {
  /** the prototxt read (messages, the header's provenance) */
  deploy: string;
  /** the net input's N,C,H,W when asked for (the output declares it) */
  inputShape?: number[];
  /** a rewritten net (board rewrite): printed canonically, headed by the name of its caffemodel and what it takes */
  rewritten?: { weightsName: string; inputLine?: string };
  trainTest?: TrainTestModel;
  warn: WarnFn;
  optionName?: OptionNamer;
}

/** The annotated prototxt text. */
export function printPrecisionPrototxt(model: LoadedModel, netParam: NetParam, plan: PrecisionPlan, o: PrintOptions): string {
  const { warn, inputShape } = o;
  const converted = o.trainTest ? deployNote(o.trainTest.conversion, path.basename(o.deploy)) : '';
  if (o.rewritten) {
    // layers left the net: print it canonically, then splice the blocks in like any V2 file
    const name = o.optionName ?? apiOptionName;
    warn(`with ${name('optimizedWeights')} the rewritten net is printed canonically (comments and layout of the input are not kept)`, { file: o.deploy });
    const text = applyPlan(parsePrototxt(printMessage('caffe.NetParameter', applyPlanToNetParam(netParam, new Map())), o.deploy), plan, { warn, inputShape });
    // the weights were rewritten too: the original caffemodel no longer fits this net
    const inputNote = o.rewritten.inputLine !== undefined ? o.rewritten.inputLine + '\n' : '';
    return `# rewritten by chaiq quantize --optimized_weights: use with the weights in ${o.rewritten.weightsName}\n${inputNote}${converted}${text}`;
  }
  if (o.trainTest) return converted + printDeployNet(netParam, plan, o.deploy, warn, inputShape);
  return applyPlan(model.doc, plan, { warn, inputShape, upgraded: { net: model.net, printMessage: (t, msg) => printMessage(t === 'NetParameter' ? 'caffe.NetParameter' : t, msg) } });
}

/** The caffemodel of a (rewritten) net: every layer's blobs. */
export function printCaffemodel(net: Net, netParam: NetParam): Uint8Array {
  return encodeCaffemodel(netParam.name ?? net.name ?? '', net.layers.map((l) => ({ name: l.name, type: l.type, blobs: l.blobs })));
}

/** The ML-Suite quantizer's JSON (Xilinx mode): the convolutions' thresholds, scale factors and xDNN multipliers. */
export function printXdnnJson(net: Net, plan: PrecisionPlan): string {
  return xdnnJson(net, plan);
}

/** The HTML report of a quantize run: histograms with thresholds, weight ranges. */
export function printQuantizeReport(net: Net, plan: PrecisionPlan, stats: StatsCollector | undefined, o: { mode: string; title: string; summary: [string, string][] }): string {
  return renderReport(quantizeReportData(net, plan, stats, o));
}
