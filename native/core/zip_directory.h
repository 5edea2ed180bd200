// The sizes a zip's central directory claims, checked before PyTorchStreamReader reads any record.
#pragma once
#include <cstdint>
#include <string>

namespace kdtorch {

// Refuses (BadFileError) a zip whose directory lists a record claiming more bytes than the file has.
// PyTorchStreamReader's constructor reads the version record into a buffer of the claimed size, so a
// 1 KB file declaring a 4 GB deflated record would allocate 4 GB before any later check; torch.save
// stores records uncompressed, so no genuine record is larger than its file. The directory is found as
// miniz (torch's zip reader) finds it; a file miniz cannot read either is left for it to refuse.
void checkZipRecordSizes(const std::string& path, uint64_t fileSize);

}  // namespace kdtorch
