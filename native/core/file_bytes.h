// Opening a file whose bytes come from a user: regular files only (a FIFO, /dev/zero or a directory
// would hang or read forever), and never more bytes than the file holds.
#pragma once
#include <cstdint>
#include <string>

namespace kdtorch {

// The size of `path`, refused with BadFileError when it is not a regular file that can be opened.
uint64_t regularFileSize(const std::string& path);

// All of `path`'s bytes (a regular file, as regularFileSize checks).
std::string readRegularFile(const std::string& path);

}  // namespace kdtorch
