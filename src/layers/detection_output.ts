import { defineLayer } from './define';
import { bottom } from './params';
import { detectionOutputForward } from './forward/ssd';

/**
 * SSD DetectionOutput (NMS). The number of kept boxes is only known after NMS, so Caffe's Reshape sets the
 * top to a fake (1, 1, 1, 7): [image_id, label, confidence, xmin, ymin, xmax, ymax]; we report the same.
 */
export const detectionOutput = defineLayer({
  type: 'DetectionOutput',
  forward: detectionOutputForward,
  chaidnn: 'sw',
  detections: true,
  shape(node, bottoms) {
    bottom(node, bottoms, 2);
    return [[1, 1, 1, 7]];
  },
});
