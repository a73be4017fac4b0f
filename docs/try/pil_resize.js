// The page's copy of Pillow's BILINEAR resize, kept apart from the page so the tests can load it alone.
// Pillow's resample (libImaging/Resample.c), 8 bits per channel: coefficients of a triangle filter widened by
// the scale when shrinking, rounded to 22-bit integers, a horizontal pass then a vertical pass, each rounding
// to bytes. Doing the same sums as Pillow gives the same bytes from the same decoded pixels.
const PRECISION_BITS = 22;

function coeffs(inSize, outSize) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1, ss = 1 / filterscale;
  const kk = new Int32Array(outSize * ksize), bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, kk, bounds };
}

const clip8 = ss => Math.min(255, Math.max(0, Math.floor(ss / (1 << PRECISION_BITS))));

// `rgba`: n×n pixels, 4 bytes each; returns out×out×3 bytes.
export function pilResize(rgba, n, out) {
  if (n === out) {
    const rgb = new Uint8Array(n * n * 3);
    for (let i = 0; i < n * n; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c];
    return rgb;
  }
  const h = coeffs(n, out), v = coeffs(n, out);
  const first = v.bounds[0], last = v.bounds[out * 2 - 2] + v.bounds[out * 2 - 1];
  const rows = last - first, tmp = new Uint8Array(rows * out * 3);
  for (let y = 0; y < rows; y++) {
    const row = (y + first) * n * 4;
    for (let xx = 0; xx < out; xx++) {
      const xmin = h.bounds[xx * 2], xmax = h.bounds[xx * 2 + 1], k = xx * h.ksize;
      let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (let x = 0; x < xmax; x++) {
        const p = row + (x + xmin) * 4, c = h.kk[k + x];
        s0 += rgba[p] * c; s1 += rgba[p + 1] * c; s2 += rgba[p + 2] * c;
      }
      const o = (y * out + xx) * 3;
      tmp[o] = clip8(s0); tmp[o + 1] = clip8(s1); tmp[o + 2] = clip8(s2);
    }
  }
  const rgb = new Uint8Array(out * out * 3);
  for (let yy = 0; yy < out; yy++) {
    const ymin = v.bounds[yy * 2] - first, ymax = v.bounds[yy * 2 + 1], k = yy * v.ksize;
    for (let xx = 0; xx < out; xx++) {
      let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (let y = 0; y < ymax; y++) {
        const p = ((y + ymin) * out + xx) * 3, c = v.kk[k + y];
        s0 += tmp[p] * c; s1 += tmp[p + 1] * c; s2 += tmp[p + 2] * c;
      }
      const o = (yy * out + xx) * 3;
      rgb[o] = clip8(s0); rgb[o + 1] = clip8(s1); rgb[o + 2] = clip8(s2);
    }
  }
  return rgb;
}
