import type { LayerDef } from './types';
import { bottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/**
 * SSD DetectionOutput (NMS). The number of kept boxes is only known after NMS, so Caffe's Reshape sets the
 * top to a fake (1, 1, 1, 7): [image_id, label, confidence, xmin, ymin, xmax, ymax]; we report the same.
 */
export const detectionOutput: LayerDef = {
  type: 'DetectionOutput',
  forward: FORWARDS.DetectionOutput,
  chaidnn: 'sw',
  precision: NO_PRECISION,
  shape(node, bottoms) {
    bottom(node, bottoms, 2);
    return [[1, 1, 1, 7]];
  },
  params: () => 0,
  macs: () => 0,
};
