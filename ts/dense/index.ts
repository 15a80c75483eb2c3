/**
 * Dense prediction tools around a segmentation Model: convolutionalization of classifiers,
 * shift-and-stitch and overlap-tile inference, label maps and their colours, and the FCN
 * reference's evaluation. The label-map helper is `argmaxLabels` (ops.argmax is the raw op).
 */
export { convolutionalize } from './convolutionalize';
export type { ConvolutionalizeOptions } from './convolutionalize';
export { shiftAndStitch } from './shift-and-stitch';
export type { ShiftAndStitchOptions, RunnableModel } from './shift-and-stitch';
export { overlapTile, overlapTileGeometry } from './overlap-tile';
export type { OverlapTileOptions, TileGeometry, TileableModel } from './overlap-tile';
export { argmaxLabels, argmaxLabelsSync, colorize, vocPalette, VOC_CLASSES } from './labels';
export type { Rgb, Palette, RgbImage } from './labels';
export { confusionMatrix, segmentationMetrics, SegmentationEvaluator } from './metrics';
export type { LabelArray, ConfusionMatrixOptions, SegmentationMetrics } from './metrics';
export { instanceLabelMap, pasteMask } from './instances';
export type { Instance } from './instances';
export { encodeRle, decodeRle } from './rle';
export type { Rle } from './rle';
