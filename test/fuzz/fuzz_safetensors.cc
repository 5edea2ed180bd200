// libFuzzer target: native/core/safetensors.cc (whole file and header-only reads) on arbitrary bytes.
#include "../../native/core/safetensors.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kdtorch::fuzz::withFile(data, size, [](const std::string& path) { kdtorch::readSafetensors(path); });
  kdtorch::fuzz::withFile(data, size, [](const std::string& path) { kdtorch::readSafetensorsMetadata(path); });
  return 0;
}
