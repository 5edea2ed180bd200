// The safetensors format (huggingface/safetensors): u64 little-endian header size, a JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw bytes.
#pragma once
#include <string>

#include "named_tensors.h"

namespace kdtorch {

struct SafetensorsFile {
  NamedTensors tensors;
  Metadata metadata;
};

SafetensorsFile readSafetensors(const std::string& path);
// The header's "__metadata__", checked as readSafetensors checks the whole header, reading only the header.
Metadata readSafetensorsMetadata(const std::string& path);
// Writes to a temporary file beside `path`, then renames: a reader never sees half a file.
void writeSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

}  // namespace kdtorch
