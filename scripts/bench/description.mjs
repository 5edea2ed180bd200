// The model description the inference benches give their fresh networks: the chest X-ray classes and
// ImageNet normalisation, the student at width 4 (the article's).
export function benchDescription(architecture, imageSize) {
  return {
    architecture,
    classes: ['NORMAL', 'PNEUMONIA'],
    imageSize,
    channels: 3,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    ...(architecture === 'studentNet' ? { width: 4 } : {}),
  };
}
