// The weights readers take paths (they check the file is regular and bound every length by its size):
// each input goes to one file in /dev/shm, and the readers' typed errors are the expected outcome.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "../../native/core/named_tensors.h"

namespace kdtorch::fuzz {

template <typename Read>
void withFile(const uint8_t* data, size_t size, Read read) {
  static const std::string path = "/dev/shm/kdtorch-fuzz-" + std::to_string(::getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    read(path);
  } catch (const CodedError&) {
  } catch (const c10::Error&) {  // libtorch's zip reader words its own refusals
  }
}

}  // namespace kdtorch::fuzz
