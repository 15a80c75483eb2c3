import { fcn } from './fcn';
import { unet } from './unet';
import { maskRcnn } from './mask-rcnn';

export { fcn, FCN_VARIANTS, FCN_BACKBONES, FCN_CROP_OFFSETS } from './fcn';
export type { FcnOptions, FcnVariant, FcnBackbone } from './fcn';
export { unet, unetValidInputSize, UNET_PADDINGS } from './unet';
export type { UnetOptions, UnetPadding } from './unet';
export { bilinearKernel } from '../graph/model';
export { maskRcnn, MaskRcnn, MASK_RCNN_BACKBONES } from './mask-rcnn';
export type { MaskRcnnOptions, DetectOptions, DetectResult, MaskRcnnBackbone } from './mask-rcnn';
export { RESNET50_FPN, canonicalName as maskRcnnCanonicalName } from './mask-rcnn-graphs';
export type { MaskRcnnArchitecture } from './mask-rcnn-graphs';

/** The networks of the FCN and U-Net papers, each returned as a runnable Model. */
export const models = { fcn, unet, maskRcnn };
