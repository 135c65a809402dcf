import { defineLayer } from './define';
import { bool, check, has, num, sub, bottom, fmt } from './params';

/**
 * Upsample (SegNet/ENet fork): max-unpooling with the mask of a MAX Pooling (bottom 1).
 * Output (N, C, upsample_h, upsample_w), or H*scale_h - pad_out_h by W*scale_w - pad_out_w.
 */
export const upsample = defineLayer({
  type: 'Upsample',
  chaidnn: 'unsupported',
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    check(node, b.length === 4, `input must be 4-D, got ${fmt(b)}`);
    const p = sub(node, 'upsample_param');
    let h: number;
    let w: number;
    if (has(p, 'upsample_h') && has(p, 'upsample_w')) {
      h = num(p, 'upsample_h', 0);
      w = num(p, 'upsample_w', 0);
    } else {
      const scale = num(p, 'scale', 2);
      const sh = has(p, 'scale_h') ? num(p, 'scale_h', scale) : scale;
      const sw = has(p, 'scale_w') ? num(p, 'scale_w', scale) : scale;
      h = b[2] * sh - (bool(p, 'pad_out_h', false) ? 1 : 0);
      w = b[3] * sw - (bool(p, 'pad_out_w', false) ? 1 : 0);
    }
    check(node, h > 0 && w > 0, 'output size must be positive');
    return node.tops.map(() => [b[0], b[1], h, w]);
  },
});
