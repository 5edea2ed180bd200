// kdtorch/onnx: classifying with an exported model through onnxruntime-node and sharp only. Nothing
// imported from here loads libtorch or the kdtorch addon; exporting (exportOnnx) needs them and lives
// in the main entry point.
export type { ModelDescription } from '../model-description.js';
export type { Prediction } from '../prediction.js';
export { loadOnnxClassifier, type OnnxClassifier, type OnnxClassifierOptions } from './classifier.js';
export { readOnnxExport } from './read-export.js';
export { sessionOptions } from './session-options.js';
