import { fcn } from './fcn';
import { unet } from './unet';

export { fcn, FCN_VARIANTS, FCN_BACKBONES, FCN_CROP_OFFSETS } from './fcn';
export type { FcnOptions, FcnVariant, FcnBackbone } from './fcn';
export { unet, unetValidInputSize, UNET_PADDINGS } from './unet';
export type { UnetOptions, UnetPadding } from './unet';
export { bilinearKernel } from '../graph/model';

/** The networks of the FCN and U-Net papers, each returned as a runnable Model. */
export const models = { fcn, unet };
