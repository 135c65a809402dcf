import { defineLayer } from './define';
import { check, has, num, sub, bottom, fmt, layerError } from './params';

/** Interp (PSPNet/DeepLab fork): bilinear resize by shrink/zoom factor or to height × width; pad_beg/pad_end ≤ 0 crop first. */
export const interp = defineLayer({
  type: 'Interp',
  chaidnn: 'unsupported',
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    check(node, b.length === 4, `input must be 4-D, got ${fmt(b)}`);
    const p = sub(node, 'interp_param');
    const padBeg = num(p, 'pad_beg', 0);
    const padEnd = num(p, 'pad_end', 0);
    check(node, padBeg <= 0 && padEnd <= 0, 'only supports non-positive padding (cropping) for now');
    const hIn = b[2] + padBeg + padEnd;
    const wIn = b[3] + padBeg + padEnd;
    const shrink = num(p, 'shrink_factor', 1);
    const zoom = num(p, 'zoom_factor', 1);
    let h: number;
    let w: number;
    if (has(p, 'shrink_factor') && !has(p, 'zoom_factor')) {
      check(node, shrink >= 1, 'shrink factor must be positive');
      h = Math.trunc((hIn - 1) / shrink) + 1;
      w = Math.trunc((wIn - 1) / shrink) + 1;
    } else if (has(p, 'zoom_factor') && !has(p, 'shrink_factor')) {
      check(node, zoom >= 1, 'zoom factor must be positive');
      h = hIn + (hIn - 1) * (zoom - 1);
      w = wIn + (wIn - 1) * (zoom - 1);
    } else if (has(p, 'height') && has(p, 'width')) {
      h = num(p, 'height', 0);
      w = num(p, 'width', 0);
    } else if (has(p, 'shrink_factor') && has(p, 'zoom_factor')) {
      h = Math.trunc((hIn - 1) / shrink) + 1;
      w = Math.trunc((wIn - 1) / shrink) + 1;
      h = h + (h - 1) * (zoom - 1);
      w = w + (w - 1) * (zoom - 1);
    } else {
      throw layerError(node, 'interp_param needs shrink_factor, zoom_factor, or height and width');
    }
    check(node, h > 0 && w > 0, 'output size must be positive');
    return node.tops.map(() => [b[0], b[1], h, w]);
  },
});
