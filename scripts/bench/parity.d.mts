export function paritySamples(perSplit: number): Promise<Record<string, string[]>>;
export function referencePixels(files: string[]): Buffer;
export function parityOf(
  files: string[],
  reference: Buffer,
): Promise<{ mean: number; max: number; identical: number }>;
export function benchParity(args: string[]): Promise<void>;
