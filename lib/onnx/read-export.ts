// What an ONNX file kdtorch exported says about itself: its description (metadata_props), whether its
// graph takes uint8 pixels or floats, and whether its batch is chosen at run time. Protobuf only: no
// onnxruntime, no libtorch.
import { fromBinary } from '@bufbuild/protobuf';
import { KdtorchError } from '../errors.js';
import { descriptionSchema } from '../model-description.js';
import { ModelProtoSchema, type TensorShapeProto_Dimension } from './gen/onnx_pb.js';

/** The description, input kind and batch dimension of an ONNX file kdtorch exported. */
export function readOnnxExport(file: string, bytes: Uint8Array) {
  const bad = (why: string, cause?: unknown) =>
    new KdtorchError('E_BAD_WEIGHTS_FILE', `${file}: ${why}`, { file, ...(cause ? { cause } : {}) });
  let model: ReturnType<typeof fromBinary<typeof ModelProtoSchema>>;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    throw bad(`not an ONNX model (${(error as Error).message})`, error);
  }
  const text = model.metadataProps.find((p) => p.key === 'kdtorch')?.value;
  if (!text) throw bad('an ONNX model without a kdtorch description: export it with kdtorch export');
  let parsed: ReturnType<typeof descriptionSchema.safeParse>;
  try {
    parsed = descriptionSchema.safeParse(JSON.parse(text));
  } catch (error) {
    throw bad(`its kdtorch description is not JSON (${(error as Error).message})`, error);
  }
  if (!parsed.success) throw bad(`its kdtorch description is invalid: ${parsed.error.issues[0]?.message}`);
  const graphInput = model.graph?.input[0];
  if (!graphInput || (graphInput.name !== 'pixels' && graphInput.name !== 'input')) {
    throw bad("its graph's input is neither 'pixels' nor 'input': not a kdtorch export");
  }
  const type = graphInput.type?.value;
  const batch =
    type?.case === 'tensorType' ? (type.value.shape?.dim[0] as TensorShapeProto_Dimension | undefined) : undefined;
  return {
    description: parsed.data,
    input: graphInput.name === 'pixels' ? ('uint8' as const) : ('float' as const),
    dynamicBatch: batch?.value.case === 'dimParam',
  };
}
