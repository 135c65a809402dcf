import type { LayerNode } from '../types';
import type { Tensor } from '../../tensor';
import type { ForwardContext } from '../types';
import { deconv2dRef, type ConvGeom } from '../../kernels/reference';
import { conv2dBatch, sgemm, type Conv2dParams } from '../../kernels';
import { alloc, allocFull, arr, blob, bool, canonAxis, fail, need, num, pm, prod } from './util';
// module-level aliases: global lookups are slow inside jest's vm context
const { floor: M_floor } = Math;

/** kernel/pad/stride/dilation per spatial dim with Caffe's precedence (kernel_h/_w override kernel_size). */
export function convSpatial(node: LayerNode, cp: Record<string, any>) {
  const two = (list: number[], h: unknown, w: unknown, dflt: number, what: string): [number, number] => {
    if (h !== undefined || w !== undefined) {
      if (list.length) fail(node, `give either ${what}_size/${what} or ${what}_h/${what}_w, not both`);
      return [num(h, dflt), num(w, dflt)];
    }
    if (list.length === 0) return [dflt, dflt];
    if (list.length === 1) return [list[0], list[0]];
    if (list.length === 2) return [list[0], list[1]];
    return fail(node, `${what} has ${list.length} values; only 2-D spatial convolution is supported`);
  };
  const [kh, kw] = two(arr(cp.kernel_size), cp.kernel_h, cp.kernel_w, 0, 'kernel');
  const [ph, pw] = two(arr(cp.pad), cp.pad_h, cp.pad_w, 0, 'pad');
  const [sh, sw] = two(arr(cp.stride), cp.stride_h, cp.stride_w, 1, 'stride');
  const dl = arr(cp.dilation);
  const [dh, dw] = dl.length === 0 ? [1, 1] : dl.length === 1 ? [dl[0], dl[0]] : [dl[0], dl[1]];
  if (!(kh > 0 && kw > 0)) fail(node, 'kernel size must be > 0');
  if (!(sh > 0 && sw > 0)) fail(node, 'stride must be > 0');
  return { kh, kw, ph, pw, sh, sw, dh, dw };
}

function convCommon(node: LayerNode, x: Tensor) {
  const cp = pm(node, 'convolution_param');
  if (x.shape.length !== 4) fail(node, `expects a 4-D (N,C,H,W) bottom, got (${x.shape})`);
  const axis = canonAxis(node, num(cp.axis, 1), 4);
  if (axis !== 1) fail(node, 'only axis 1 (channels) is supported');
  const [n, c, h, w] = x.shape;
  const o = num(cp.num_output, 0);
  const group = num(cp.group, 1);
  if (!(o > 0)) fail(node, 'num_output must be > 0');
  if (c % group !== 0 || o % group !== 0) fail(node, `channels ${c} and num_output ${o} must be divisible by group ${group}`);
  const biasTerm = bool(cp.bias_term, true);
  return { cp, n, c, h, w, o, group, biasTerm, ...convSpatial(node, cp) };
}

export async function convolutionForward(node: LayerNode, bottoms: Tensor[], ctx: ForwardContext): Promise<Tensor[]> {
  need(node, bottoms, 1);
  const tops: Tensor[] = [];
  for (const x of bottoms) {
    const p = convCommon(node, x);
    const oh = M_floor((p.h + 2 * p.ph - (p.dh * (p.kh - 1) + 1)) / p.sh) + 1;
    const ow = M_floor((p.w + 2 * p.pw - (p.dw * (p.kw - 1) + 1)) / p.sw) + 1;
    if (oh <= 0 || ow <= 0) fail(node, `kernel larger than the padded input (${p.h}x${p.w})`);
    const wt = blob(node, 0, 'weights', p.o * (p.c / p.group) * p.kh * p.kw);
    const bias = p.biasTerm ? blob(node, 1, 'bias', p.o).data : undefined;
    const kp: Conv2dParams = {
      inC: p.c, inH: p.h, inW: p.w, outC: p.o, outH: oh, outW: ow, kH: p.kh, kW: p.kw,
      strideH: p.sh, strideW: p.sw, padH: p.ph, padW: p.pw, dilH: p.dh, dilW: p.dw, group: p.group,
    };
    const out = allocFull([p.n, p.o, oh, ow]); // the kernels write every output
    // a fused epilogue (one bottom only: it was built for that bottom's output)
    const fused = bottoms.length === 1 ? ctx.convEpilogue : undefined;
    await conv2dBatch(x.data, p.n, wt.data, bias ?? null, kp, out.data, fused?.ep);
    if (fused) fused.taken = true;
    tops.push(out);
  }
  return tops;
}

export function deconvolutionForward(node: LayerNode, bottoms: Tensor[], _ctx: ForwardContext): Tensor[] {
  need(node, bottoms, 1);
  const tops: Tensor[] = [];
  for (const x of bottoms) {
    const p = convCommon(node, x);
    const oh = p.sh * (p.h - 1) + (p.dh * (p.kh - 1) + 1) - 2 * p.ph;
    const ow = p.sw * (p.w - 1) + (p.dw * (p.kw - 1) + 1) - 2 * p.pw;
    if (oh <= 0 || ow <= 0) fail(node, 'output size would be <= 0');
    const wt = blob(node, 0, 'weights', p.c * (p.o / p.group) * p.kh * p.kw);
    const bias = p.biasTerm ? blob(node, 1, 'bias', p.o).data : undefined;
    const g: ConvGeom = { c: p.c, h: p.h, w: p.w, o: p.o, kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, ph: p.ph, pw: p.pw, dh: p.dh, dw: p.dw, group: p.group, oh, ow };
    const out = alloc([p.n, p.o, oh, ow]);
    deconv2dRef(p.n, x.data, wt.data, bias, g, out.data);
    tops.push(out);
  }
  return tops;
}

export function innerProductForward(node: LayerNode, bottoms: Tensor[], _ctx: ForwardContext): Tensor[] {
  need(node, bottoms, 1);
  const ip = pm(node, 'inner_product_param');
  const x = bottoms[0];
  const axis = canonAxis(node, num(ip.axis, 1), x.shape.length);
  const N = num(ip.num_output, 0);
  if (!(N > 0)) fail(node, 'num_output must be > 0');
  const M = prod(x.shape, 0, axis);
  const K = prod(x.shape, axis);
  const transpose = bool(ip.transpose, false);
  const wt = blob(node, 0, 'weights', N * K);
  const out = alloc([...x.shape.slice(0, axis), N]);
  // weights [N,K] (or [K,N] with transpose): y = x · Wᵀ
  sgemm(M, N, K, x.data, wt.data, out.data, { transB: !transpose });
  if (bool(ip.bias_term, true)) {
    const b = blob(node, 1, 'bias', N).data;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) out.data[i * N + j] += b[j];
  }
  return [out];
}
