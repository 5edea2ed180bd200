// What a kdtorch model file says about its network (architecture, classes, input size, normalisation):
// stored with the weights (safetensors metadata) and with an ONNX export (metadata_props), and read back
// through this schema, as it is untrusted. No native code here: the ONNX classifier uses it without libtorch.
import { z } from 'zod';

export const descriptionSchema = z
  .object({
    architecture: z.enum(['resnet18', 'studentNet']),
    // Bounds before anything is built: a description is untrusted, and imageSize 40000 alone would
    // make a 12.8 GB student before loadWeights could compare shapes (loadModel also checks the
    // network's size against the file's).
    classes: z.array(z.string().min(1)).min(2).max(10_000),
    imageSize: z
      .number()
      .int()
      .min(32)
      .max(4096)
      .refine((n) => n % 2 === 0, 'must be even'),
    channels: z.union([z.literal(1), z.literal(3)]),
    mean: z.array(z.number()).min(1),
    std: z.array(z.number().positive()).min(1),
    /** studentNet's convolution channels. */
    width: z.number().int().positive().max(1024).optional(),
  })
  .refine((d) => d.mean.length === d.channels && d.std.length === d.channels, {
    message: 'mean and std need one value per channel',
  });

export type ModelDescription = z.infer<typeof descriptionSchema>;
