/**
 * COCO instance evaluation as pycocotools' COCOeval (evaluate + accumulate + summarize) for
 * iouType 'segm' and 'bbox': IoU thresholds .50:.05:.95, 101 recall points, maxDets 100, area
 * ranges all / small (< 32²) / medium / large (> 96²) on the ground truth's `area`. Crowd
 * ground truth is matched by intersection over the detection's area and never counts as a miss;
 * a detection matched to nothing whose area is outside the range is ignored.
 *
 * Segmentations are COCO RLE (compressed string or uncompressed counts) or polygons; polygons
 * are filled at pixel centres (an even-odd scanline fill), which can differ from pycocotools'
 * frPoly by a pixel along edges.
 */
import { FcnkitError } from '../errors';
import { decodeRle } from './rle';
import type { Rle } from './rle';

export interface CocoAnnotation {
  id?: number;
  image_id: number;
  category_id: number;
  bbox: [number, number, number, number];
  area?: number;
  iscrowd?: number;
  segmentation?: Rle | { size: [number, number]; counts: number[] } | number[][];
  score?: number;
}

export interface CocoGroundTruth {
  images: Array<{ id: number; width: number; height: number; file_name?: string }>;
  annotations: CocoAnnotation[];
  categories?: Array<{ id: number; name?: string }>;
}

export interface CocoMetrics {
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
}

export type IouType = 'segm' | 'bbox';

// As numpy.linspace(.5, .95, 10), bit for bit.
const IOU_THRS = Array.from({ length: 10 }, (_, i) => i * ((0.95 - 0.5) / 9) + 0.5);
const REC_THRS = Array.from({ length: 101 }, (_, i) => i * (1 / 100));
const AREAS: ReadonlyArray<[number, number]> = [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]];
const MAX_DETS = 100;

function fillPolygons(polys: number[][], w: number, h: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const cy = y + 0.5;
    const xs: number[] = [];
    for (const p of polys) {
      const n = Math.floor(p.length / 2);
      for (let i = 0; i < n; i++) {
        const x0 = p[2 * i], y0 = p[2 * i + 1], x1 = p[(2 * i + 2) % (2 * n)], y1 = p[(2 * i + 3) % (2 * n)];
        if ((y0 <= cy && y1 > cy) || (y1 <= cy && y0 > cy)) xs.push(x0 + ((cy - y0) / (y1 - y0)) * (x1 - x0));
      }
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const a = Math.max(0, Math.ceil(xs[k] - 0.5)), b = Math.min(w, Math.ceil(xs[k + 1] - 0.5));
      for (let x = a; x < b; x++) m[y * w + x] = 1;
    }
  }
  return m;
}

function uncompressed(seg: { size: [number, number]; counts: number[] }): Uint8Array {
  const [h, w] = seg.size;
  const out = new Uint8Array(w * h);
  let pos = 0, v = 0;
  for (const c of seg.counts) {
    if (v) for (let i = pos; i < pos + c && i < w * h; i++) out[(i % h) * w + Math.floor(i / h)] = 1;
    pos += c;
    v ^= 1;
  }
  return out;
}

function maskOf(a: CocoAnnotation, w: number, h: number): Uint8Array {
  const s = a.segmentation;
  if (s === undefined) throw new FcnkitError('INVALID_ARGUMENT', `annotation ${a.id ?? ''} of image ${a.image_id} has no segmentation`);
  if (Array.isArray(s)) return fillPolygons(s, w, h);
  if (typeof s.counts === 'string') return decodeRle(s as Rle);
  if (Array.isArray(s.counts)) return uncompressed(s as { size: [number, number]; counts: number[] });
  throw new FcnkitError('INVALID_ARGUMENT', `annotation ${a.id ?? ''}: unrecognised segmentation`);
}

interface Item {
  ann: CocoAnnotation;
  area: number;
  crowd: boolean;
  mask?: Uint8Array;
  maskArea?: number;
}

function iou(d: Item, g: Item, type: IouType): number {
  let inter: number, ad: number, ag: number;
  if (type === 'bbox') {
    const [dx, dy, dw, dh] = d.ann.bbox, [gx, gy, gw, gh] = g.ann.bbox;
    const iw = Math.max(0, Math.min(dx + dw, gx + gw) - Math.max(dx, gx));
    const ih = Math.max(0, Math.min(dy + dh, gy + gh) - Math.max(dy, gy));
    inter = iw * ih;
    ad = dw * dh;
    ag = gw * gh;
  } else {
    const a = d.mask!, b = g.mask!;
    inter = 0;
    for (let i = 0; i < a.length; i++) inter += a[i] & b[i];
    ad = d.maskArea!;
    ag = g.maskArea!;
  }
  const union = g.crowd ? ad : ad + ag - inter;
  return union > 0 ? inter / union : 0;
}

/** COCO AP summary of detections against ground truth. */
export function cocoEvaluate(gt: CocoGroundTruth, detections: readonly CocoAnnotation[], type: IouType): CocoMetrics {
  const sizes = new Map(gt.images.map((i) => [i.id, i]));
  const prep = (a: CocoAnnotation, isGt: boolean): Item => {
    const img = sizes.get(a.image_id);
    if (!img) throw new FcnkitError('INVALID_ARGUMENT', `annotation refers to unknown image_id ${a.image_id}`);
    const it: Item = { ann: a, area: 0, crowd: isGt && !!a.iscrowd };
    if (type === 'segm') {
      it.mask = maskOf(a, img.width, img.height);
      if (it.mask.length !== img.width * img.height) throw new FcnkitError('SHAPE_MISMATCH', `segmentation size differs from image ${a.image_id}'s ${img.width}×${img.height}`);
      it.maskArea = it.mask.reduce((s, v) => s + v, 0);
    }
    // As pycocotools' loadRes: a result with a bbox gets area w·h, even for 'segm'; without one, its mask's area.
    if (isGt) it.area = a.area ?? (type === 'segm' ? it.maskArea! : a.bbox[2] * a.bbox[3]);
    else if (Array.isArray(a.bbox) && a.bbox.length === 4) it.area = a.bbox[2] * a.bbox[3];
    else if (type === 'segm') it.area = it.maskArea!;
    else throw new FcnkitError('INVALID_ARGUMENT', `detection on image ${a.image_id} has no bbox`);
    return it;
  };
  const key = (img: number, cat: number): string => `${img}/${cat}`;
  const gts = new Map<string, Item[]>(), dts = new Map<string, Item[]>();
  const cats = new Set<number>();
  for (const a of gt.annotations) {
    const k = key(a.image_id, a.category_id);
    if (!gts.has(k)) gts.set(k, []);
    gts.get(k)!.push(prep(a, true));
    cats.add(a.category_id);
  }
  for (const c of gt.categories ?? []) cats.add(c.id);
  const byImage = new Map<number, CocoAnnotation[]>();
  for (const d of detections) {
    if (!byImage.has(d.image_id)) byImage.set(d.image_id, []);
    byImage.get(d.image_id)!.push(d);
  }
  for (const list of byImage.values()) {
    for (const d of list) {
      const k = key(d.image_id, d.category_id);
      if (!dts.has(k)) dts.set(k, []);
      dts.get(k)!.push(prep(d, false));
    }
  }
  const T = IOU_THRS.length, Rn = REC_THRS.length;
  // precision[t][r] per (category, area range), -1 where there is no ground truth.
  const precision: number[][][][] = [];
  for (const cat of [...cats].sort((a, b) => a - b)) {
    const perArea: number[][][] = [];
    AREAS.forEach((rng) => {
      const scores: number[] = [], matched: boolean[][] = [], ignored: boolean[][] = [];
      let npig = 0;
      for (const img of gt.images) {
        const g = gts.get(key(img.id, cat)) ?? [];
        const d = [...(dts.get(key(img.id, cat)) ?? [])].sort((a, b) => (b.ann.score ?? 0) - (a.ann.score ?? 0)).slice(0, MAX_DETS);
        if (g.length === 0 && d.length === 0) continue;
        // COCOeval._prepare sets ignore = iscrowd, whatever an annotation's own `ignore` says.
        const gIgn = g.map((x) => x.crowd || x.area < rng[0] || x.area > rng[1]);
        const order = g.map((_, i) => i).sort((a, b) => Number(gIgn[a]) - Number(gIgn[b]));
        const gs = order.map((i) => g[i]), gi = order.map((i) => gIgn[i]);
        npig += gi.filter((x) => !x).length;
        const ious = d.map((dd) => gs.map((gg) => iou(dd, gg, type)));
        const dtm = IOU_THRS.map(() => new Array<boolean>(d.length).fill(false));
        const dtIg = IOU_THRS.map(() => new Array<boolean>(d.length).fill(false));
        IOU_THRS.forEach((t, ti) => {
          const gtm = new Array<boolean>(gs.length).fill(false);
          d.forEach((_, di) => {
            let best = Math.min(t, 1 - 1e-10), m = -1;
            for (let gj = 0; gj < gs.length; gj++) {
              if (gtm[gj] && !gs[gj].crowd) continue;
              if (m > -1 && !gi[m] && gi[gj]) break;
              if (ious[di][gj] < best) continue;
              best = ious[di][gj];
              m = gj;
            }
            if (m === -1) return;
            dtIg[ti][di] = gi[m];
            dtm[ti][di] = true;
            gtm[m] = true;
          });
          d.forEach((dd, di) => {
            if (!dtm[ti][di] && (dd.area < rng[0] || dd.area > rng[1])) dtIg[ti][di] = true;
          });
        });
        d.forEach((dd, di) => {
          scores.push(dd.ann.score ?? 0);
          matched.push(dtm.map((row) => row[di]));
          ignored.push(dtIg.map((row) => row[di]));
        });
      }
      const prec: number[][] = [];
      if (npig === 0) {
        for (let t = 0; t < T; t++) prec.push(new Array<number>(Rn).fill(-1));
        perArea.push(prec);
        return;
      }
      const idx = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
      for (let t = 0; t < T; t++) {
        let tp = 0, fp = 0;
        const rc: number[] = [], pr: number[] = [];
        for (const i of idx) {
          if (ignored[i][t]) continue;
          if (matched[i][t]) tp++;
          else fp++;
          rc.push(tp / npig);
          pr.push(tp / (fp + tp + Number.EPSILON));
        }
        for (let i = pr.length - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        const q = new Array<number>(Rn).fill(0);
        let j = 0;
        REC_THRS.forEach((r, ri) => {
          while (j < rc.length && rc[j] < r) j++;
          if (j < pr.length) q[ri] = pr[j];
        });
        prec.push(q);
      }
      perArea.push(prec);
    });
    precision.push(perArea);
  }
  const mean = (area: number, thr?: number): number => {
    const vals: number[] = [];
    for (const perArea of precision) {
      perArea[area].forEach((row, t) => {
        if (thr !== undefined && Math.abs(IOU_THRS[t] - thr) > 1e-9) return;
        for (const v of row) if (v > -1) vals.push(v);
      });
    }
    return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : -1;
  };
  return { AP: mean(0), AP50: mean(0, 0.5), AP75: mean(0, 0.75), APs: mean(1), APm: mean(2), APl: mean(3) };
}
