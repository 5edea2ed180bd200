// kdtorch's public API.
export { KdtorchError, type KdtorchErrorCode } from './errors.js';
export { type CheckDeviceOptions, checkDevice, type Info, info } from './info.js';
export { Model, type StudentNetOptions, studentNet, type TensorData } from './model.js';
export type { DeviceCheck } from './native.js';
