// Reads `torch.save(model.state_dict())` files (a zip holding data.pkl and data/<key> storages)
// with a restricted unpickler: it knows tensors, storages and (Ordered)dicts and refuses every
// other global, so loading a weights file can never run code. torch::pickle_load cannot be used:
// it maps collections.OrderedDict, the type of every state_dict, to None.
#pragma once
#include <string>

#include "named_tensors.h"

namespace kdtorch {

NamedTensors readPth(const std::string& path);

}  // namespace kdtorch
