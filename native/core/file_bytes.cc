#include "file_bytes.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "named_tensors.h"

namespace kdtorch {

uint64_t regularFileSize(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw BadFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  if (S_ISDIR(info.st_mode)) throw BadFileError(path + ": is a directory, not a weights file");
  if (!S_ISREG(info.st_mode)) {
    throw BadFileError(path + ": is not a regular file (a pipe, device or socket); give the path of a saved file");
  }
  if (info.st_size == 0) throw BadFileError(path + ": the file is empty");
  return static_cast<uint64_t>(info.st_size);
}

std::string readRegularFile(const std::string& path) {
  const uint64_t size = regularFileSize(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size) throw BadFileError(path + ": changed size while being read");
  return bytes;
}

}  // namespace kdtorch
