// libFuzzer target: native/core/pth_reader.cc on arbitrary bytes (scripts/fuzz/run.sh builds and runs it).
#include "../../native/core/pth_reader.h"
#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kdtorch::fuzz::withFile(data, size, [](const std::string& path) { kdtorch::readPth(path); });
  return 0;
}
